"""The feedback store: validation of a label, one immutable file per append, reading back."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from prodcat_core.errors import InvalidInputError
from prodcat_core.feedback import FEEDBACK_SCHEMA, FeedbackLabel, append_feedback, read_feedback
from prodcat_core.inference_log import text_sha256


def test_a_label_must_name_its_listing() -> None:
    with pytest.raises(ValidationError, match="listing_id or a text_sha256"):
        FeedbackLabel(prdtypecode=10)
    with pytest.raises(ValidationError, match="64 lower-case hex"):
        FeedbackLabel(text_sha256="abc", prdtypecode=10)
    with pytest.raises(ValidationError):
        FeedbackLabel(listing_id="a", prdtypecode=-1)
    label = FeedbackLabel(text_sha256=text_sha256("Livre"), prdtypecode=10)
    with pytest.raises(ValidationError):
        label.prdtypecode = 40  # type: ignore[misc]


def test_appends_are_whole_files_and_read_back(tmp_path: Path) -> None:
    root = tmp_path / "feedback"
    assert read_feedback(root).num_rows == 0
    assert read_feedback(root).schema == FEEDBACK_SCHEMA
    first = [
        FeedbackLabel(listing_id="l1", prdtypecode=10),
        FeedbackLabel(listing_id="l2", prdtypecode=40),
    ]
    assert append_feedback(root, first, "api") == 2
    sha = text_sha256("Chaise en bois")
    assert append_feedback(root, [FeedbackLabel(text_sha256=sha, prdtypecode=1560)], "cli") == 1
    assert append_feedback(root, [], "cli") == 0
    files = sorted(root.rglob("*"))
    parts = [p for p in files if p.is_file()]
    assert len(parts) == 2
    assert all(p.name.startswith("part-") and p.suffix == ".parquet" for p in parts)
    table = read_feedback(root)
    assert table.schema == FEEDBACK_SCHEMA
    rows = sorted(table.to_pylist(), key=lambda r: r["prdtypecode"])
    assert [(r["listing_id"], r["text_sha256"], r["prdtypecode"], r["source"]) for r in rows] == [
        ("l1", None, 10, "api"),
        ("l2", None, 40, "api"),
        (None, sha, 1560, "cli"),
    ]
    assert all(r["received_at"].tzinfo is not None for r in rows)


def test_unknown_source_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="source"):
        append_feedback(tmp_path, [FeedbackLabel(listing_id="x", prdtypecode=10)], "web")
    assert list(tmp_path.iterdir()) == []


def test_a_half_written_file_is_not_read(tmp_path: Path) -> None:
    append_feedback(tmp_path, [FeedbackLabel(listing_id="x", prdtypecode=10)], "api")
    (folder,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    (folder / ".tmp-part-dead.parquet").write_bytes(b"PAR1 half")
    assert read_feedback(tmp_path).num_rows == 1

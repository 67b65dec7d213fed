"""The inference log writer and reader: layout, whole files, rotation, drops, filters."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from prodcat_core.errors import InvalidInputError
from prodcat_core.inference_log import (
    INFERENCE_LOG_SCHEMA,
    InferenceLogWriter,
    InferenceRecord,
    ModelIdentity,
    list_log_files,
    new_listing_id,
    read_inference_log,
    text_sha256,
)

MODEL = ModelIdentity(name="prodcat", version="3", alias="champion", model_id="m-0123456789ab")
T0 = datetime(2026, 5, 4, 10, 59, 30, tzinfo=UTC)


def _record(
    ts: datetime, text: str = "Livre de cuisine\nRecettes", code: int = 10
) -> InferenceRecord:
    return InferenceRecord(
        ts=ts,
        request_id="r1",
        listing_id=new_listing_id(),
        model=MODEL,
        text=text,
        truncated=False,
        prdtypecode=code,
        confidence=0.9,
        topk_codes=(code, 40),
        topk_probs=(0.9, 0.05),
        latency_ms=1.5,
    )


def _parts(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_rows_land_in_hour_partitions_as_whole_files(tmp_path: Path) -> None:
    root = tmp_path / "log"
    with InferenceLogWriter(str(root), rotate_seconds=60) as writer:
        assert writer.submit(_record(T0))
        assert writer.submit(_record(T0 + timedelta(minutes=1), "Chaise", code=1560))
    files = _parts(root)
    assert [f.relative_to(root).parent.as_posix() for f in files] == [
        "2026-05-04/10",
        "2026-05-04/11",
    ]
    assert all(f.name.startswith(f"part-{writer.writer_id}-") for f in files)
    table = read_inference_log(str(root))
    assert table.schema == INFERENCE_LOG_SCHEMA
    rows = sorted(table.to_pylist(), key=lambda r: r["ts"])
    assert rows[0]["text"] == "Livre de cuisine\nRecettes"
    assert rows[0]["text_sha256"] == text_sha256("Livre de cuisine\nRecettes")
    assert rows[0]["description_empty"] is False
    assert rows[1]["description_empty"] is True
    assert rows[1]["text_chars"] == len("Chaise")
    assert rows[0]["model_alias"] == "champion"
    assert rows[0]["source"] == "predictor"
    assert rows[0]["topk_codes"] == [10, 40]
    assert writer.stats.records_written == 2
    assert writer.stats.last_flush is not None


def test_hash_only_keeps_no_text(tmp_path: Path) -> None:
    with InferenceLogWriter(str(tmp_path), keep_text=False) as writer:
        writer.submit(_record(T0, "secret"))
    (row,) = read_inference_log(str(tmp_path)).to_pylist()
    assert row["text"] is None
    assert row["text_sha256"] == text_sha256("secret")


def test_rotates_by_size_and_by_time(tmp_path: Path) -> None:
    by_size = tmp_path / "size"
    with InferenceLogWriter(str(by_size), rotate_bytes=1_000, rotate_seconds=600) as writer:
        for _ in range(20):
            writer.submit(_record(T0, "x" * 300))
    assert len(_parts(by_size)) >= 4
    assert read_inference_log(str(by_size)).num_rows == 20

    by_time = tmp_path / "time"
    writer = InferenceLogWriter(str(by_time), rotate_seconds=0.2).start()
    try:
        writer.submit(_record(T0))
        deadline = time.monotonic() + 10
        while not _parts(by_time) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(_parts(by_time)) == 1  # written without close, because it got old
    finally:
        writer.close()


def test_a_full_queue_drops_and_counts_without_waiting(tmp_path: Path) -> None:
    writer = InferenceLogWriter(
        str(tmp_path), queue_size=5
    )  # not started: a sink that never drains
    started = time.perf_counter()
    accepted = [writer.submit(_record(T0)) for _ in range(1_000)]
    assert time.perf_counter() - started < 5  # generous: the point is that it did not block
    assert sum(accepted) == 5
    assert writer.stats.dropped["queue_full"] == 995
    assert writer.queue_depth() == 5


def test_a_failing_sink_counts_write_errors(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the log's folder should be", encoding="utf-8")
    with InferenceLogWriter(str(blocker)) as writer:
        assert writer.submit(_record(T0))
    assert writer.stats.dropped["write_error"] == 1
    assert writer.stats.records_written == 0


def test_reader_filters_window_and_version_and_skips_partial_files(tmp_path: Path) -> None:
    other = ModelIdentity(name="prodcat", version="4")
    with InferenceLogWriter(str(tmp_path)) as writer:
        for minutes in range(0, 180, 10):
            writer.submit(_record(T0 + timedelta(minutes=minutes)))
        rec = _record(T0 + timedelta(minutes=5))
        writer.submit(
            InferenceRecord(**{**{f: getattr(rec, f) for f in rec.__slots__}, "model": other})
        )
    (tmp_path / "2026-05-04" / "11" / ".tmp-part-x-000009.parquet").write_bytes(b"PAR1 half")
    assert read_inference_log(str(tmp_path)).num_rows == 19
    assert read_inference_log(str(tmp_path), model_version="4").num_rows == 1
    window = read_inference_log(
        str(tmp_path),
        start=T0 + timedelta(minutes=30),
        end=datetime(2026, 5, 4, 12, 0),  # naive = UTC
        model_version="3",
        columns=["ts", "prdtypecode"],
    )
    assert window.column_names == ["ts", "prdtypecode"]
    assert window.num_rows == 4  # minutes 30, 40, 50, 60 after 10:59:30: before 12:00
    later = list_log_files(str(tmp_path), start=datetime(2026, 5, 4, 12, 0, tzinfo=UTC))
    assert [Path(f).parent.name for f in later] == ["12", "13"]  # the hour partitions pruned
    assert read_inference_log(str(tmp_path / "nothing")).num_rows == 0
    with pytest.raises(InvalidInputError, match="no column"):
        read_inference_log(str(tmp_path), columns=["nope"])


def test_files_are_plain_parquet(tmp_path: Path) -> None:
    with InferenceLogWriter(str(tmp_path)) as writer:
        writer.submit(_record(T0))
    (part,) = _parts(tmp_path)
    assert pq.read_table(part).schema == INFERENCE_LOG_SCHEMA

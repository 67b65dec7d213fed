"""The feedback labels store: true `prdtypecode`s for listings the predictor answered.

    <root>/<YYYY-MM-DD>/part-<uuid>.parquet      (UTC date of receipt)

Append-only and immutable: each call writes one new file, written under a `.tmp-` name and renamed
into place, so a reader sees a batch of labels whole or not at all (readers skip names starting
with "."). A label names its listing by the `listing_id` the predictor returned, by the sha256 of
the listing text, or both. Checking the codes against the model's label codec is the caller's job
(the API and the CLI validate before they append)."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, Field, model_validator

from prodcat_core.errors import InvalidInputError

logger = logging.getLogger(__name__)

FeedbackSource = Literal["api", "cli", "import"]
SOURCES: tuple[str, ...] = ("api", "cli", "import")

FEEDBACK_SCHEMA = pa.schema(
    [
        pa.field("received_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("listing_id", pa.string()),
        pa.field("text_sha256", pa.string()),
        pa.field("prdtypecode", pa.int32(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
    ]
)

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class FeedbackLabel(BaseModel):
    """One true label. At least one of `listing_id` and `text_sha256` names the listing."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    listing_id: str | None = Field(None, min_length=1, max_length=200)
    text_sha256: str | None = Field(None, description="sha256 hex of the listing text")
    prdtypecode: int = Field(ge=0, le=2**31 - 1)

    @model_validator(mode="after")
    def _names_a_listing(self) -> FeedbackLabel:
        if self.listing_id is None and self.text_sha256 is None:
            raise ValueError("a label needs a listing_id or a text_sha256")
        if self.text_sha256 is not None and not _SHA256.fullmatch(self.text_sha256):
            raise ValueError("text_sha256 must be 64 lower-case hex digits")
        return self


def append_feedback(root: Path, rows: Sequence[FeedbackLabel], source: str) -> int:
    """Writes `rows` as one new immutable file under `root`; returns how many rows it wrote
    (0 writes nothing)."""
    if source not in SOURCES:
        raise InvalidInputError(f"feedback source {source!r} is not one of {', '.join(SOURCES)}")
    if not rows:
        return 0
    now = datetime.now(UTC)
    table = pa.table(
        {
            "received_at": pa.array([now] * len(rows), FEEDBACK_SCHEMA.field("received_at").type),
            "listing_id": pa.array([r.listing_id for r in rows], pa.string()),
            "text_sha256": pa.array([r.text_sha256 for r in rows], pa.string()),
            "prdtypecode": pa.array([r.prdtypecode for r in rows], pa.int32()),
            "source": pa.array([source] * len(rows), pa.string()),
        },
        schema=FEEDBACK_SCHEMA,
    )
    folder = root / now.strftime("%Y-%m-%d")
    folder.mkdir(parents=True, exist_ok=True)
    name = f"part-{uuid.uuid4().hex}.parquet"
    tmp = folder / f".tmp-{name}"
    try:
        pq.write_table(table, tmp)
        tmp.rename(folder / name)
    finally:
        tmp.unlink(missing_ok=True)
    logger.info("%d feedback labels (%s) written to %s", len(rows), source, folder / name)
    return len(rows)


def read_feedback(root: Path) -> pa.Table:
    """Every label under `root`, oldest file first; an empty table when there is none."""
    files = sorted(
        (p for p in root.glob("*/part-*.parquet") if not p.name.startswith(".")),
        key=lambda p: (p.parent.name, p.stat().st_mtime_ns, p.name),
    )
    if not files:
        return FEEDBACK_SCHEMA.empty_table()
    return pa.concat_tables([pq.read_table(f, schema=FEEDBACK_SCHEMA) for f in files])

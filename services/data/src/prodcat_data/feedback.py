"""Feedback labels: true product types for listings the predictor answered, from `POST /feedback`
or `prodcat data feedback --file labels.csv`, validated like an import and stored in one
immutable file per batch (`prodcat_core.feedback`).

A label names its listing by the `listing_id` the predictor returned or by its text (designation
and description, hashed exactly as the predictor logs it: `listing_text` then sha256). A batch is
taken whole or not at all: one unknown code, one unknown id, one empty text refuses it all, with
the item and the reason, and nothing is written."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from prodcat_core.errors import InvalidInputError, NotFoundError, PayloadTooLargeError
from prodcat_core.feedback import FeedbackLabel, FeedbackSource, append_feedback
from prodcat_core.inference_log import list_log_files, read_inference_log, text_sha256
from prodcat_core.labels import CATEGORY_NAMES
from prodcat_core.text import listing_text
from prodcat_data.config import DataSettings

logger = logging.getLogger(__name__)

FEEDBACK_CSV_COLUMNS = ("listing_id", "designation", "description", "prdtypecode")
_SHOWN = 5


class FeedbackItem(BaseModel):
    """One label: `listing_id`, or the listing's `designation` (and `description`)."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        strict=True,
        json_schema_extra={
            "examples": [
                {"listing_id": "0f3c2a9d5e7b4c1a8e6d2b0f9a7c5e3d", "prdtypecode": 2583},
                {"designation": "Piscine tubulaire ronde", "description": "", "prdtypecode": 2583},
            ]
        },
    )

    listing_id: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        pattern=r"^[!-~]+$",
        description="the id the predictor returned with its answer",
    )
    designation: str | None = Field(None, description="the listing's title (instead of an id)")
    description: str | None = Field(None, description="the listing's description, if any")
    prdtypecode: int = Field(description="the true product type", examples=[2583])

    @model_validator(mode="after")
    def _one_way(self) -> FeedbackItem:
        if (self.listing_id is None) == (self.designation is None):
            raise ValueError("give a listing_id or a designation (not both)")
        if self.description is not None and self.designation is None:
            raise ValueError("a description needs its designation")
        return self


class FeedbackReceipt(BaseModel):
    accepted: int = Field(description="labels stored")
    by_listing_id: int
    by_text: int


def _where(position: int, origin: str) -> str:
    """`item 3` (the JSON list's index) or `<file>: row 4` (1-based, header not counted)."""
    return f"{origin} {position + 1}" if origin != "item" else f"item {position}"


def _label(item: FeedbackItem, position: int, origin: str, settings: DataSettings) -> FeedbackLabel:
    where = _where(position, origin)
    if item.prdtypecode not in CATEGORY_NAMES:
        raise InvalidInputError(
            f"{where}: prdtypecode {item.prdtypecode} is not a known product type"
        )
    if item.listing_id is not None:
        return FeedbackLabel(listing_id=item.listing_id, prdtypecode=item.prdtypecode)
    for name, value in (("designation", item.designation), ("description", item.description)):
        if value is not None and len(value) > settings.max_text_chars:
            raise PayloadTooLargeError(
                f"{where}: {name} is longer than {settings.max_text_chars} characters"
            )
    text = listing_text(item.designation, item.description)
    if not text.strip():
        raise InvalidInputError(f"{where}: the designation is empty")
    return FeedbackLabel(text_sha256=text_sha256(text), prdtypecode=item.prdtypecode)


class LoggedListingIds:
    """Which listing ids an inference log holds. A local log's files are immutable (written whole
    under a temporary name, then renamed; never changed), so each file's `listing_id` column is
    read once and kept: a lookup reads only the files that appeared since the last one. An object
    store's log (s3://) is read on every lookup."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self._columns: dict[str, pa.ChunkedArray] = {}
        self._lock = threading.Lock()

    def _arrays(self, since: datetime) -> list[pa.ChunkedArray]:
        if "://" in self.uri and not self.uri.startswith("file://"):
            table = read_inference_log(self.uri, start=since, columns=["listing_id"])
            return [table.column("listing_id")]
        files = list_log_files(self.uri, since)
        with self._lock:
            for gone in set(self._columns) - set(files):  # aged out of the lookback
                del self._columns[gone]
            for path in files:
                if path not in self._columns:
                    table = pq.read_table(path, columns=["listing_id"])
                    self._columns[path] = table.column("listing_id")
            return [self._columns[path] for path in files]

    def unknown(self, ids: set[str], since: datetime) -> set[str]:
        """The ids of `ids` that no file of the log since `since` (by hour) holds."""
        wanted = pa.array(sorted(ids), pa.string())
        found: set[str] = set()
        for column in self._arrays(since):
            found.update(column.filter(pc.is_in(column, value_set=wanted)).to_pylist())
            if len(found) == len(ids):
                break
        return ids - found


def _check_known_ids(
    labels: Sequence[FeedbackLabel], settings: DataSettings, logged: LoggedListingIds | None
) -> None:
    """With an inference log configured, every listing id must be one the predictor logged."""
    ids = {label.listing_id for label in labels if label.listing_id is not None}
    if not ids or settings.inference_log_uri is None:
        return
    since = datetime.now(UTC) - timedelta(days=settings.feedback_lookback_days)
    logged = logged or LoggedListingIds(settings.inference_log_uri)
    unknown = sorted(logged.unknown(ids, since))
    if unknown:
        shown = ", ".join(unknown[:_SHOWN]) + (", …" if len(unknown) > _SHOWN else "")
        raise NotFoundError(
            f"{len(unknown)} listing id(s) not in the inference log of the last "
            f"{settings.feedback_lookback_days:g} days: {shown}; nothing was stored"
        )


def record_feedback(
    items: Sequence[FeedbackItem],
    settings: DataSettings,
    source: FeedbackSource,
    origin: str = "item",
    logged: LoggedListingIds | None = None,
) -> FeedbackReceipt:
    """Validates every item, then stores them all in one new file (or nothing). `logged` keeps
    the inference log's ids between calls (the API's); without it the log is read now."""
    if not items:
        raise InvalidInputError("no labels given")
    if len(items) > settings.max_feedback_items:
        raise PayloadTooLargeError(
            f"{len(items)} labels, more than the limit of {settings.max_feedback_items} per batch"
        )
    labels = [_label(item, i, origin, settings) for i, item in enumerate(items)]
    _check_known_ids(labels, settings, logged)
    append_feedback(settings.feedback_dir, labels, source)
    by_id = sum(1 for label in labels if label.listing_id is not None)
    return FeedbackReceipt(accepted=len(labels), by_listing_id=by_id, by_text=len(labels) - by_id)


def read_feedback_csv(path: Path, settings: DataSettings) -> list[FeedbackItem]:
    """`listing_id,prdtypecode` or `designation,description,prdtypecode` rows (UTF-8 CSV); an
    error names the row."""
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except FileNotFoundError as e:
        raise InvalidInputError(f"{path}: no such file") from e
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as e:
        raise InvalidInputError(f"{path.name}: not a valid UTF-8 CSV file: {e}") from e
    columns = [str(c) for c in frame.columns]
    unknown = [c for c in columns if c not in FEEDBACK_CSV_COLUMNS]
    if unknown or "prdtypecode" not in columns:
        raise InvalidInputError(
            f"{path.name}: columns must be prdtypecode and listing_id or designation[,description]"
            f" (found {', '.join(columns)})"
        )
    if len(frame) > settings.max_feedback_items:
        raise PayloadTooLargeError(
            f"{path.name}: {len(frame)} rows, more than the limit of {settings.max_feedback_items}"
        )
    items = []
    for position, row in enumerate(frame.to_dict("records")):
        where = f"{path.name}: row {position + 1}"
        code = str(row["prdtypecode"]).strip()
        if not code.isdigit():
            raise InvalidInputError(f"{where}: prdtypecode {code!r} is not an integer")
        fields: dict[str, str | None] = {
            str(k): (str(v) if str(v) != "" else None) for k, v in row.items() if k != "prdtypecode"
        }
        if fields.get("designation") is None:
            fields.pop("description", None)
        try:
            items.append(FeedbackItem.model_validate({**fields, "prdtypecode": int(code)}))
        except ValidationError as e:
            problem = e.errors()[0]
            field = ".".join(str(p) for p in problem["loc"])
            raise InvalidInputError(
                f"{where}: {field + ': ' if field else ''}{problem['msg']}"
            ) from e
    return items

"""`prodcat predict batch`: listings in, the same rows with predictions out (one file here; a
folder of files in shards: prodcat_predict.shards).

The listings go through the server's pipeline (text function, truncation, model) in chunks, with
progress lines; the output is written atomically. A row whose text is empty once cleaned gets
empty predictions instead of failing the whole file, and is counted."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd

from prodcat_core.errors import InvalidInputError, NotFoundError
from prodcat_core.inference_log import new_listing_id
from prodcat_core.model import LoadedModel
from prodcat_core.progress import ProgressLog
from prodcat_predict.batch_inputs import Location, kind_of
from prodcat_predict.pipeline import FloatArray, Listing, predictions, prepare_one

logger = logging.getLogger(__name__)

FORMATS = (".csv", ".parquet")
TEXT_COLUMNS = ("designation", "description")
OUTPUT_COLUMNS = ("prdtypecode", "category", "confidence", "truncated")
ID_COLUMN = "id"
LISTING_ID_COLUMN = "listing_id"  # with --inference-log: the row's name in the log
TOP_CODES, TOP_CONFIDENCES = "top_k_prdtypecodes", "top_k_confidences"


@dataclass(frozen=True)
class ScoredChunk:
    """One model call of a batch, one row per text: the listing ids given to its rows, the texts
    the model saw, its probabilities, whether each text was cut, and the chunk's time (text
    preparation and model call) in seconds."""

    listing_ids: Sequence[str]
    texts: Sequence[str]
    proba: FloatArray
    truncated: Sequence[bool]
    seconds: float


class ChunkSink(Protocol):
    """Receives each scored chunk (the inference log's way in for batch traffic)."""

    def __call__(self, chunk: ScoredChunk) -> None: ...


@dataclass(frozen=True)
class BatchSummary:
    rows: int
    empty: int
    truncated: int


def _format_of(path: Path, what: str) -> str:
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise InvalidInputError(f"{what} {path}: expected a .csv or .parquet file")
    return suffix


def read_listings(location: Location) -> pd.DataFrame:
    """The input's rows; `designation` is required, `description` optional, other columns kept."""
    if location.suffix not in FORMATS:
        raise InvalidInputError(f"--input {location}: expected a .csv or .parquet file")
    if kind_of(location) != "file":
        raise NotFoundError(f"--input {location}: no such file")
    frame = read_table(location)
    check_columns(list(frame.columns), f"--input {location}")
    return with_listing_ids(frame)


def read_table(location: Location) -> pd.DataFrame:
    """One CSV or Parquet file of listings (local or s3://), the text columns as strings."""
    suffix = location.suffix
    try:
        if suffix == ".csv":
            with location.fs.open_input_stream(location.path) as stream:
                return pd.read_csv(stream, dtype={"designation": "string", "description": "string"})
        return pd.read_parquet(location.path, filesystem=location.fs)
    except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError) as e:
        raise InvalidInputError(f"--input {location}: unreadable {suffix[1:]} file: {e}") from e


def check_columns(columns: Sequence[object], where: str) -> None:
    if "designation" not in columns:
        raise InvalidInputError(
            f"{where}: no designation column (columns: {', '.join(map(str, columns))})"
        )


def with_listing_ids(frame: pd.DataFrame) -> pd.DataFrame:
    """The challenge's files carry the listing id as an unnamed first column (pandas reads it as
    'Unnamed: 0'): it is named `id`, as an `id` column already is."""
    first = str(frame.columns[0]) if len(frame.columns) else ""
    if ID_COLUMN not in frame.columns and first.startswith("Unnamed: 0"):
        return frame.rename(columns={frame.columns[0]: ID_COLUMN})
    return frame


def _strings(column: pd.Series | None, n: int) -> list[str | None]:
    if column is None:
        return [None] * n
    return [None if pd.isna(v) else str(v) for v in column.tolist()]


def predict_frame(
    frame: pd.DataFrame,
    loaded: LoadedModel,
    *,
    max_chars: int,
    chunk_rows: int = 1024,
    top_k: int = 1,
    sink: ChunkSink | None = None,
) -> tuple[pd.DataFrame, BatchSummary]:
    """The input's other columns followed by prdtypecode, category, confidence and truncated
    (and, with top_k > 1, the top classes and their probabilities as two list columns). With a
    sink, every scored row gets a new `listing_id` (the inference log's name for it)."""
    n = len(frame)
    listing_ids: list[str | None] = [None] * n
    designations = _strings(frame["designation"], n)
    descriptions = _strings(frame["description"] if "description" in frame.columns else None, n)
    codes = np.zeros(n, dtype=np.int64)
    valid = np.zeros(n, dtype=bool)
    confidence = np.full(n, np.nan, dtype=np.float32)
    truncated = np.zeros(n, dtype=bool)
    categories: list[str | None] = [None] * n
    top_codes: list[list[int]] = [[] for _ in range(n)]
    top_confidences: list[list[float]] = [[] for _ in range(n)]
    with ProgressLog("predict", n, unit="listings", logger=logger) as progress:
        for start in range(0, n, chunk_rows):
            chunk_started = time.perf_counter()
            stop = min(start + chunk_rows, n)
            prepared = [
                prepare_one(Listing(designations[i], descriptions[i]), max_chars)
                for i in range(start, stop)
            ]
            rows = [start + j for j, p in enumerate(prepared) if p.text]
            truncated[start:stop] = [p.truncated for p in prepared]
            if rows:
                texts = [prepared[i - start].text for i in rows]
                proba = loaded.classifier.predict_proba(texts)
                cut = [bool(truncated[i]) for i in rows]
                if sink is not None:
                    named = [new_listing_id() for _ in rows]
                    for i, listing_id in zip(rows, named, strict=True):
                        listing_ids[i] = listing_id
                    seconds = time.perf_counter() - chunk_started
                    sink(ScoredChunk(named, texts, proba, cut, seconds))
                for i, answer in zip(
                    rows, predictions(proba, loaded.codec, top_k, cut), strict=True
                ):
                    codes[i], confidence[i], categories[i] = (
                        answer.prdtypecode,
                        answer.confidence,
                        answer.category,
                    )
                    top_codes[i] = [c.prdtypecode for c in answer.top_k]
                    top_confidences[i] = [c.probability for c in answer.top_k]
                    valid[i] = True
            progress.advance(stop - start)
    out = frame.drop(columns=[c for c in TEXT_COLUMNS if c in frame.columns]).reset_index(drop=True)
    out["prdtypecode"] = pd.array(np.where(valid, codes, 0), dtype="Int64")
    out.loc[~valid, "prdtypecode"] = pd.NA
    out["category"] = pd.array(categories, dtype="string")
    out["confidence"] = confidence
    out["truncated"] = truncated
    if top_k > 1:
        out[TOP_CODES] = top_codes
        out[TOP_CONFIDENCES] = top_confidences
    if sink is not None:
        out[LISTING_ID_COLUMN] = pd.array(listing_ids, dtype="string")
    summary = BatchSummary(rows=n, empty=int((~valid).sum()), truncated=int(truncated.sum()))
    if summary.empty:
        logger.warning(
            "%d of %d rows have no text once cleaned: their predictions are empty", summary.empty, n
        )
    return out, summary


def write_predictions(frame: pd.DataFrame, path: Path) -> None:
    """Writes beside the target and renames, so the output appears whole or not at all."""
    suffix = _format_of(path, "--output")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        if suffix == ".csv":
            frame.to_csv(tmp, index=False)
        else:
            frame.to_parquet(tmp, index=False)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)

"""`prodcat predict batch`: a file of listings in, the same file's rows with predictions out.

The listings go through the server's pipeline (text function, truncation, model) in chunks, with
progress lines; the output is written atomically. A row whose text is empty once cleaned gets
empty predictions instead of failing the whole file, and is counted."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from prodcat_core.errors import InvalidInputError, NotFoundError
from prodcat_core.model import LoadedModel
from prodcat_core.progress import ProgressLog
from prodcat_predict.pipeline import Listing, predictions, prepare_one

logger = logging.getLogger(__name__)

FORMATS = (".csv", ".parquet")
TEXT_COLUMNS = ("designation", "description")
OUTPUT_COLUMNS = ("prdtypecode", "category", "confidence", "truncated")


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


def read_listings(path: Path) -> pd.DataFrame:
    """The input's rows; `designation` is required, `description` optional, other columns kept."""
    suffix = _format_of(path, "--input")
    if not path.is_file():
        raise NotFoundError(f"--input {path}: no such file")
    try:
        if suffix == ".csv":
            frame = pd.read_csv(path, dtype={"designation": "string", "description": "string"})
        else:
            frame = pd.read_parquet(path)
    except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError) as e:
        raise InvalidInputError(f"--input {path}: unreadable {suffix[1:]} file: {e}") from e
    if "designation" not in frame.columns:
        raise InvalidInputError(
            f"--input {path}: no designation column (columns: {', '.join(map(str, frame.columns))})"
        )
    return frame


def _strings(column: pd.Series | None, n: int) -> list[str | None]:
    if column is None:
        return [None] * n
    return [None if pd.isna(v) else str(v) for v in column.tolist()]


def predict_frame(
    frame: pd.DataFrame, loaded: LoadedModel, *, max_chars: int, chunk_rows: int = 1024
) -> tuple[pd.DataFrame, BatchSummary]:
    """The input's other columns followed by prdtypecode, category, confidence and truncated."""
    n = len(frame)
    designations = _strings(frame["designation"], n)
    descriptions = _strings(frame["description"] if "description" in frame.columns else None, n)
    codes = np.zeros(n, dtype=np.int64)
    valid = np.zeros(n, dtype=bool)
    confidence = np.full(n, np.nan, dtype=np.float32)
    truncated = np.zeros(n, dtype=bool)
    categories: list[str | None] = [None] * n
    with ProgressLog("predict", n, unit="listings", logger=logger) as progress:
        for start in range(0, n, chunk_rows):
            stop = min(start + chunk_rows, n)
            prepared = [
                prepare_one(Listing(designations[i], descriptions[i]), max_chars)
                for i in range(start, stop)
            ]
            rows = [start + j for j, p in enumerate(prepared) if p.text]
            truncated[start:stop] = [p.truncated for p in prepared]
            if rows:
                proba = loaded.classifier.predict_proba([prepared[i - start].text for i in rows])
                for i, answer in zip(
                    rows,
                    predictions(proba, loaded.codec, 1, [bool(truncated[i]) for i in rows]),
                    strict=True,
                ):
                    codes[i], confidence[i], categories[i] = (
                        answer.prdtypecode,
                        answer.confidence,
                        answer.category,
                    )
                    valid[i] = True
            progress.advance(stop - start)
    out = frame.drop(columns=[c for c in TEXT_COLUMNS if c in frame.columns]).reset_index(drop=True)
    out["prdtypecode"] = pd.array(np.where(valid, codes, 0), dtype="Int64")
    out.loc[~valid, "prdtypecode"] = pd.NA
    out["category"] = pd.array(categories, dtype="string")
    out["confidence"] = confidence
    out["truncated"] = truncated
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

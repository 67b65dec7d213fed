"""`prodcat predict batch --inference-log URI`: the batch's answers in the same inference log as
the server's (source "batch"), so `prodcat monitor` sees offline scoring too.

Kept apart from batch_predict.py: it reads the batch's input and output frames and needs nothing
else from the batch's internals. The batch keeps the best class only, so a row's top-k is that
class; its latency is the batch's time per listing."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime

import pandas as pd

from prodcat_core.inference_log import InferenceLogWriter, InferenceRecord, ModelIdentity
from prodcat_core.model import LoadedModel
from prodcat_predict.pipeline import Listing, prepare_one

logger = logging.getLogger(__name__)

CHUNK_ROWS = 100_000  # records per write: one file per chunk and hour


def _text(value: object) -> str | None:
    return None if value is None or pd.isna(value) else str(value)  # type: ignore[call-overload]


def log_batch(
    uri: str,
    frame: pd.DataFrame,
    out: pd.DataFrame,
    loaded: LoadedModel,
    *,
    max_chars: int,
    seconds: float,
    keep_text: bool = True,
    model_name: str = "prodcat",
) -> int:
    """Appends one record per predicted row of `out` (rows without text are not answers) and
    adds a `listing_id` column to `out`. Returns the records written."""
    writer = InferenceLogWriter(uri, keep_text=keep_text)
    model_id = loaded.metadata.model_id
    identity = ModelIdentity(name=model_name, version=model_id, model_id=model_id)
    request_id = f"batch-{uuid.uuid4().hex}"
    latency_ms = seconds * 1000.0 / max(len(frame), 1)
    descriptions = frame["description"] if "description" in frame.columns else None
    ids = [uuid.uuid4().hex for _ in range(len(out))]
    now = datetime.now(UTC)
    records: list[InferenceRecord] = []
    written = 0
    for i, (designation, code, confidence) in enumerate(
        zip(frame["designation"], out["prdtypecode"], out["confidence"], strict=True)
    ):
        if pd.isna(code):
            continue
        description = None if descriptions is None else _text(descriptions.iat[i])
        prepared = prepare_one(Listing(_text(designation), description), max_chars)
        records.append(
            InferenceRecord(
                ts=now,
                request_id=request_id,
                listing_id=ids[i],
                model=identity,
                text=prepared.text,
                truncated=prepared.truncated,
                prdtypecode=int(code),
                confidence=float(confidence),
                topk_codes=(int(code),),
                topk_probs=(float(confidence),),
                latency_ms=latency_ms,
                source="batch",
            )
        )
        if len(records) >= CHUNK_ROWS:
            writer.write(records)
            written += len(records)
            records = []
    writer.write(records)
    written += len(records)
    out["listing_id"] = ids
    dropped = sum(writer.stats.dropped.values())
    if dropped:
        logger.error("inference log %s: %d batch records could not be written", uri, dropped)
    return written - dropped

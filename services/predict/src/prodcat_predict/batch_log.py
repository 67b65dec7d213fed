"""`prodcat predict batch --inference-log URI`: the batch's answers in the same inference log as
the server's (source "batch"), so `prodcat monitor` sees offline scoring too.

One record builder for both outputs (one file, or a shard of a folder): `BatchLog` is the
`ChunkSink` that predict_frame calls with each scored chunk. It keeps the chunk's top-k classes
from the probabilities, the text as the model saw it and whether it was cut; a record's latency is
its chunk's time per listing. Records are written synchronously (a batch may wait for its log;
nothing is dropped for a full queue), at most CHUNK_ROWS per file, the rest on `close`."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from prodcat_core.inference_log import InferenceLogWriter, InferenceRecord, ModelIdentity
from prodcat_core.model import LoadedModel
from prodcat_predict.batch_predict import ScoredChunk
from prodcat_predict.pipeline import top_k_indexes

logger = logging.getLogger(__name__)

CHUNK_ROWS = 100_000  # records per write: one file per chunk and hour


@dataclass(frozen=True)
class BatchLogTarget:
    """Where and how a batch logs (picklable: a shard process of --all-shards gets it)."""

    uri: str
    keep_text: bool
    model_name: str
    top_k: int


class BatchLog:
    """Builds and writes the inference log records of one batch process (a ChunkSink)."""

    def __init__(self, target: BatchLogTarget, loaded: LoadedModel) -> None:
        self.target = target
        self._writer = InferenceLogWriter(target.uri, keep_text=target.keep_text)
        model_id = loaded.metadata.model_id
        # The server's identity for the same model (version = model id), so the monitor's
        # per-version reads see batch and online answers of one model together.
        self._identity = ModelIdentity(name=target.model_name, version=model_id, model_id=model_id)
        self._codes = loaded.codec.codes
        self._request_id = f"batch-{uuid.uuid4().hex}"  # shared by this process's records
        self._buffer: list[InferenceRecord] = []

    def __call__(self, chunk: ScoredChunk) -> None:
        now = datetime.now(UTC)
        latency_ms = chunk.seconds * 1000.0 / max(len(chunk.texts), 1)
        proba = chunk.proba
        top = top_k_indexes(proba, self.target.top_k)
        for row, (listing_id, text, cut, indexes) in enumerate(
            zip(chunk.listing_ids, chunk.texts, chunk.truncated, top, strict=True)
        ):
            codes = tuple(int(self._codes[i]) for i in indexes)
            probs = tuple(float(proba[row, i]) for i in indexes)
            self._buffer.append(
                InferenceRecord(
                    ts=now,
                    request_id=self._request_id,
                    listing_id=listing_id,
                    model=self._identity,
                    text=text,
                    truncated=cut,
                    prdtypecode=codes[0],
                    confidence=probs[0],
                    topk_codes=codes,
                    topk_probs=probs,
                    latency_ms=latency_ms,
                    source="batch",
                )
            )
        if len(self._buffer) >= CHUNK_ROWS:
            self._flush()

    def _flush(self) -> None:
        self._writer.write(self._buffer)
        self._buffer = []

    def close(self) -> int:
        """Writes what is buffered; returns the records written (failed files are logged)."""
        self._flush()
        dropped = sum(self._writer.stats.dropped.values())
        if dropped:
            logger.error(
                "inference log %s: %d batch records could not be written", self.target.uri, dropped
            )
        return self._writer.stats.records_written

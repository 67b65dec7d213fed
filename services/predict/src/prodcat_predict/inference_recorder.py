"""The predictor's side of the inference log: which answers are recorded, and the metrics.

One `InferenceRecorder` per worker process owns one `InferenceLogWriter` (one background thread,
one bounded queue). `record` runs on the request path after the answer is built: it samples,
builds plain records and hands them over with `put_nowait`, so a slow or full sink costs the
request nothing but a counted drop."""

from __future__ import annotations

import atexit
import logging
import random
from collections.abc import Sequence
from datetime import UTC, datetime

from prodcat_core.inference_log import (
    InferenceLogWriter,
    InferenceRecord,
    ModelIdentity,
)
from prodcat_predict.config import PredictSettings
from prodcat_predict.metrics import PredictorMetrics
from prodcat_predict.pipeline import Prediction

logger = logging.getLogger(__name__)


class MetricsObserver:
    """Turns the writer's reports into the predictor's Prometheus metrics."""

    def __init__(self, metrics: PredictorMetrics) -> None:
        self.metrics = metrics

    def written(self, records: int) -> None:
        self.metrics.inference_log_records.inc(records)

    def dropped(self, reason: str, records: int) -> None:
        self.metrics.inference_log_dropped.labels(reason=reason).inc(records)

    def flushed(self, timestamp: float) -> None:
        self.metrics.inference_log_last_flush.set(timestamp)


class InferenceRecorder:
    def __init__(
        self, writer: InferenceLogWriter, sample: float, metrics: PredictorMetrics
    ) -> None:
        self.writer = writer
        self.sample = sample
        self.metrics = metrics
        self._random = random.Random()  # noqa: S311  # sampling, not secrecy

    @classmethod
    def from_settings(
        cls, settings: PredictSettings, metrics: PredictorMetrics
    ) -> InferenceRecorder | None:
        """A started recorder, or None when the log is off (no URI, or a sample of 0)."""
        if not settings.inference_log_uri or settings.inference_log_sample <= 0:
            return None
        writer = InferenceLogWriter(
            settings.inference_log_uri,
            keep_text=settings.inference_log_text == "full",
            queue_size=settings.inference_log_queue,
            rotate_bytes=settings.inference_log_rotate_bytes,
            rotate_seconds=settings.inference_log_rotate_seconds,
            observer=MetricsObserver(metrics),
        ).start()
        # Workers end through the interpreter's exit, not through our code: flush there too.
        atexit.register(writer.close, settings.grace_period_s)
        return cls(writer, settings.inference_log_sample, metrics)

    def record(
        self,
        *,
        model: ModelIdentity,
        request_id: str,
        texts: Sequence[str],
        answers: Sequence[Prediction],
        listing_ids: Sequence[str],
        latency_ms: float,
        source: str = "predictor",
    ) -> None:
        now = datetime.now(UTC)
        sampled = self.sample >= 1.0
        for text, answer, listing_id in zip(texts, answers, listing_ids, strict=True):
            if not sampled and self._random.random() >= self.sample:
                continue
            self.writer.submit(
                InferenceRecord(
                    ts=now,
                    request_id=request_id,
                    listing_id=listing_id,
                    model=model,
                    text=text,
                    truncated=answer.truncated,
                    prdtypecode=answer.prdtypecode,
                    confidence=answer.confidence,
                    topk_codes=tuple(s.prdtypecode for s in answer.top_k),
                    topk_probs=tuple(s.probability for s in answer.top_k),
                    latency_ms=latency_ms,
                    source=source,
                )
            )
        self.metrics.inference_log_queue_depth.set(self.writer.queue_depth())

    def close(self, timeout: float = 30.0) -> None:
        self.writer.close(timeout)

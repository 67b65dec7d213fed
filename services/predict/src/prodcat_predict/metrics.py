"""The predictor's Prometheus metrics, all named `prodcat_predictor_*`, with bounded labels only
(route templates, phases, status classes, class codes; never text or ids).

With several workers every process writes its samples to `PROMETHEUS_MULTIPROC_DIR` (prometheus-
client's multiprocess mode: the variable must be set before the process imports prometheus_client,
which the server arranges) and `/metrics` merges the files, so any worker answers for all of them.
kserve 0.21's own `/metrics` only shows the worker that happens to answer; the server replaces
it."""

from __future__ import annotations

import functools
from pathlib import Path

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector

from prodcat_core.inference_log import DROP_REASONS

PREFIX = "prodcat_predictor"

LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
CONFIDENCE_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)
CHARS_BUCKETS = (0, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 50000)

# Route labels: a fixed set, whatever the path was.
ROUTES = ("v1_predict", "v2_infer", "classify", "health", "metadata", "metrics", "other")
PHASES = ("preprocess", "queue", "infer", "postprocess")
INFERENCE_ROUTES = ("v1_predict", "v2_infer", "classify")
REJECT_REASONS = ("queue_full", "timeout")


class PredictorMetrics:
    """Every metric the predictor records. One instance per process (see `process_metrics`);
    tests may build more on their own registry."""

    def __init__(self, registry: CollectorRegistry | None = REGISTRY) -> None:
        def name(suffix: str) -> str:
            return f"{PREFIX}_{suffix}"

        self.requests = Counter(
            name("requests"), "HTTP requests by route", ["route"], registry=registry
        )
        self.errors = Counter(
            name("errors"),
            "HTTP requests answered with an error, by route and status class (4xx, 5xx)",
            ["route", "status_class"],
            registry=registry,
        )
        self.request_seconds = Histogram(
            name("request_duration_seconds"),
            "time from request to response, by route",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.phase_seconds = Histogram(
            name("phase_duration_seconds"),
            "time per request in each phase: preprocess (text function), queue (waiting for a "
            "batch), infer (the batch's model call), postprocess (answer building)",
            ["phase"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.batch_size = Histogram(
            name("batch_size"), "listings per model call", buckets=BATCH_BUCKETS, registry=registry
        )
        self.items = Counter(
            name("listings"), "listings classified, by protocol", ["protocol"], registry=registry
        )
        self.predictions = Counter(
            name("predictions"),
            "predicted class of each listing",
            ["prdtypecode"],
            registry=registry,
        )
        self.confidence = Histogram(
            name("confidence"),
            "probability of the predicted class",
            buckets=CONFIDENCE_BUCKETS,
            registry=registry,
        )
        self.input_chars = Histogram(
            name("input_chars"),
            "length of a listing's text (after the text function, before truncation)",
            buckets=CHARS_BUCKETS,
            registry=registry,
        )
        self.truncated = Counter(
            name("truncated_listings"), "listings cut to the maximum text length", registry=registry
        )
        self.rejected = Counter(
            name("rejected"),
            "requests refused by the batcher: queue_full (503) or timeout (504)",
            ["reason"],
            registry=registry,
        )
        self.model_info = Gauge(
            name("model_info"),
            "the model being served (value 1)",
            ["name", "version", "alias", "family"],
            multiprocess_mode="max",
            registry=registry,
        )
        # The inference log (prodcat_core.inference_log) and the model's reference profile.
        self.inference_log_records = Counter(
            name("inference_log_records"),
            "inference log records written to the store",
            registry=registry,
        )
        self.inference_log_dropped = Counter(
            name("inference_log_dropped"),
            "inference log records dropped: queue_full (the sink is slower than traffic) or "
            "write_error",
            ["reason"],
            registry=registry,
        )
        self.inference_log_queue_depth = Gauge(
            name("inference_log_queue_depth"),
            "inference log records waiting to be written",
            multiprocess_mode="livesum",
            registry=registry,
        )
        self.inference_log_last_flush = Gauge(
            name("inference_log_last_flush_timestamp_seconds"),
            "when the inference log last wrote its buffer (Unix time)",
            multiprocess_mode="max",
            registry=registry,
        )
        self.reference_class_share = Gauge(
            name("reference_class_share"),
            "share of each predicted class on the served model's test split (its reference "
            "profile); with predictions_total it gives a continuous PSI",
            ["prdtypecode"],
            multiprocess_mode="max",
            registry=registry,
        )
        for reason in DROP_REASONS:
            self.inference_log_dropped.labels(reason=reason)
        # Series that alerts and dashboards divide by exist at 0 from the start, so they read 0
        # instead of "no data" until the first error or refusal.
        for reason in REJECT_REASONS:
            self.rejected.labels(reason=reason)
        for route in INFERENCE_ROUTES:
            for status_class in ("4xx", "5xx"):
                self.errors.labels(route=route, status_class=status_class)


@functools.cache
def process_metrics() -> PredictorMetrics:
    """The metrics of this process, registered on prometheus-client's default registry once."""
    return PredictorMetrics(REGISTRY)


def render_metrics(accept: str | None, multiproc_dir: Path | None) -> tuple[bytes, str]:
    """The exposition text of this process, or of every worker when in multiprocess mode."""
    encoder, content_type = choose_encoder(accept or "")
    if multiproc_dir is None:
        return encoder(REGISTRY), content_type
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(multiproc_dir))  # type: ignore[no-untyped-call]
    return encoder(registry), content_type


def status_class(status: int) -> str | None:
    if 400 <= status < 500:
        return "4xx"
    if status >= 500:
        return "5xx"
    return None

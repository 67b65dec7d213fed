"""Settings of the predictor (env prefix PREDICT_).

The server's every knob is here: where the model comes from, where it listens, how requests are
batched and bounded. `PROMETHEUS_MULTIPROC_DIR` is read under its own name, the way
prometheus-client reads it."""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import SettingsConfigDict

from prodcat_core.settings import ServiceSettings


class PredictSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PREDICT_", populate_by_name=True)

    # The CLI's one-off predictions.
    models_dir: Path = Field(Path("models/artifacts"), description="where model artifacts live")
    top_k: int = Field(3, ge=1, le=27, description="classes returned per listing")

    # The model the server loads.
    model_source: str = Field(
        "/mnt/models",
        description="artifact folder, /mnt/models (KServe's storage initializer) or an MLflow URI "
        "such as models:/prodcat@champion",
    )
    model_name: str = Field(
        "prodcat",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$",
        description="name of the model in the V1/V2 URLs",
    )
    tracking_uri: str | None = Field(
        None,
        validation_alias=AliasChoices("MLFLOW_TRACKING_URI"),
        description="MLflow tracking/registry URI for models:/ sources (unset: MLflow's defaults)",
    )
    download_dir: Path | None = Field(
        None, description="where an MLflow model is downloaded (a temporary folder when unset)"
    )

    # Where the server listens. Local by default; the container sets 0.0.0.0.
    host: str = Field("127.0.0.1", description="address the HTTP (and gRPC) server binds")
    http_port: int = Field(8080, ge=0, le=65535, description="HTTP port (0: any free port)")
    grpc_enabled: bool = Field(False, description="also serve the V2 gRPC protocol")
    grpc_port: int = Field(8081, ge=1, le=65535, description="gRPC port")
    workers: int = Field(1, ge=1, le=64, description="server processes (each loads the model)")
    threads: int | None = Field(
        None,
        ge=1,
        le=256,
        description=(
            "threads of one model call; unset: chosen for the model family from the CPU limit "
            "/ workers (transformer: 1 per call, linear: all)"
        ),
    )
    access_log: bool = Field(
        False, description="one log line per request (metrics count them anyway)"
    )
    docs: bool = Field(
        True, description="serve the Swagger UI at /docs (the OpenAPI is always served)"
    )
    grace_period_s: int = Field(
        30, ge=0, description="time given to in-flight requests at shutdown"
    )

    # Micro-batching.
    batching: bool = Field(
        True, description="batch concurrent requests; off: one model call per request"
    )
    max_batch_size: int = Field(32, ge=1, le=4096, description="most listings in one model call")
    max_batch_wait_ms: float = Field(
        2.0, ge=0, le=1000, description="longest a listing waits for others to fill its batch"
    )
    inference_concurrency: int | None = Field(
        None,
        ge=1,
        le=256,
        description=(
            "model calls running at once per worker; unset: chosen for the model family "
            "(transformer: CPUs per worker / threads, linear: 1)"
        ),
    )
    max_queue: int = Field(
        2048,
        ge=1,
        description="listings waiting for the model before new requests are refused (503)",
    )

    # Request limits.
    max_body_bytes: int = Field(1 << 20, ge=1024, description="largest request body (413 above)")
    max_items: int = Field(64, ge=1, description="most listings in one request (413 above)")
    max_text_chars: int = Field(
        5000,
        ge=1,
        description="a listing's text is cut to this many characters (flagged `truncated`)",
    )
    request_timeout_s: float = Field(
        10.0, gt=0, description="longest wait for the model (504 after)"
    )
    retry_after_s: int = Field(1, ge=1, description="Retry-After of an overload answer (503)")
    header_timeout_s: float = Field(
        10.0, gt=0, description="time a client has to send a request's line and headers (408)"
    )
    body_timeout_s: float = Field(
        30.0, gt=0, description="longest wait for the next piece of a request body (408)"
    )

    # Admission by cost (admission.py): overload answers quick 503s, not late 504s.
    admission: bool = Field(
        True, description="refuse work that could not finish within the request timeout (503)"
    )
    admission_wait_fraction: float = Field(
        0.5,
        gt=0,
        le=1,
        description="admitted work must be able to finish within this share of request_timeout_s",
    )
    admission_heavy_share: float = Field(
        0.5,
        gt=0,
        le=1,
        description="share of that budget requests of more than one listing may fill (the rest "
        "is kept for one-listing requests)",
    )
    max_call_ms: float = Field(
        100.0,
        gt=0,
        description="with admission, a model call holds at most this much work (at the measured "
        "rate), so a one-listing request waits at most about this long behind one",
    )
    listing_cost_chars: int = Field(
        200, ge=0, description="fixed cost of a listing, in characters of text, for admission"
    )

    # Metrics with several workers (prometheus-client's multiprocess mode).
    metrics_dir: Path | None = Field(
        None,
        validation_alias=AliasChoices("PROMETHEUS_MULTIPROC_DIR"),
        description="prometheus-client multiprocess folder; created when workers > 1 and unset",
    )

    # The inference log (issue #12): every answered listing, or a sample, to Parquet.
    inference_log_uri: str = Field(
        "",
        description="where the inference log goes: a folder or s3://bucket/prefix; empty: off",
    )
    inference_log_sample: float = Field(
        1.0, ge=0, le=1, description="share of answered listings recorded (1: all)"
    )
    inference_log_text: Literal["full", "hash"] = Field(
        "full", description="record the listing text (full) or only its sha256 and length (hash)"
    )
    inference_log_queue: int = Field(
        10_000, ge=1, description="records waiting for the writer before new ones are dropped"
    )
    inference_log_rotate_bytes: int = Field(
        64 * 1024 * 1024, ge=1024, description="a log file is written once this much is buffered"
    )
    inference_log_rotate_seconds: float = Field(
        60.0, gt=0, le=3600, description="... or once its oldest record is this old"
    )
    # Batch scoring in shards: an Indexed Job gives each pod its index as JOB_COMPLETION_INDEX.
    shard_index: int | None = Field(
        None,
        ge=0,
        validation_alias=AliasChoices("PREDICT_SHARD_INDEX", "JOB_COMPLETION_INDEX", "shard_index"),
        description="this process's shard of a batch (default: the Indexed Job's index, else 0)",
    )
    shard_count: int = Field(1, ge=1, le=10_000, description="shards a batch is split into")
    s3_endpoint_url: str | None = Field(
        None, description="S3-compatible endpoint (http://host:port) for a batch's s3:// input"
    )

    @model_validator(mode="after")
    def _check(self) -> PredictSettings:
        if self.max_items > self.max_queue:
            raise ValueError(
                f"max_items ({self.max_items}) must not exceed max_queue ({self.max_queue})"
            )
        return self

    def download_folder(self) -> Path:
        """Where an MLflow model goes: `download_dir`, else a new temporary folder name (created
        only if a download happens)."""
        if self.download_dir is not None:
            return self.download_dir
        return Path(tempfile.gettempdir()) / f"prodcat-model-{uuid.uuid4().hex[:12]}"

    @property
    def max_batch_wait_s(self) -> float:
        return self.max_batch_wait_ms / 1000.0

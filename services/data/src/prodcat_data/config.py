"""Settings of the data stages and the data API (env prefix DATA_)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import SettingsConfigDict

from prodcat_core.settings import TrackedServiceSettings

RunnerKind = Literal["local", "kubernetes"]


class DataSettings(TrackedServiceSettings):
    """The data stages' and the data API's settings. The MLflow fields (tracking_uri read from
    MLFLOW_TRACKING_URI, experiment, registered_model) come from the tracked base: the API reads
    the registry for `/models`."""

    model_config = SettingsConfigDict(env_prefix="DATA_")

    datasets_dir: Path = Field(Path("data/datasets"), description="store of dataset versions")
    prepared_dir: Path = Field(Path("data/prepared"), description="store of prepared versions")
    max_file_bytes: int = Field(1 << 30, gt=0, description="largest accepted input file")
    max_rows: int = Field(2_000_000, gt=0, description="most rows accepted in one import")
    max_text_chars: int = Field(
        100_000, gt=0, description="longest accepted designation/description"
    )
    download_timeout_s: float = Field(60.0, gt=0, description="timeout of an http(s) download")
    s3_endpoint_url: str | None = Field(
        None, description="S3-compatible endpoint for s3:// sources"
    )

    # The data API and its runs.
    api_host: str = Field("127.0.0.1", description="address `prodcat data serve` binds")
    api_port: int = Field(8000, ge=1, le=65535, description="port `prodcat data serve` listens on")
    upload_dir: Path | None = Field(
        None,
        description="where uploads are staged before import (default: `.uploads` beside "
        "datasets_dir, on the same file system as the store)",
    )
    import_allow_private_urls: bool = Field(
        False,
        description="let `POST /datasets/import` fetch from loopback, private and link-local "
        "addresses (off: the API must not become a proxy into the cluster network)",
    )
    models_dir: Path = Field(
        Path("models/artifacts"), description="model artifacts (read to check a model id)"
    )
    runs_dir: Path = Field(
        Path("data/runs"), description="per-run folders of local runs (log, exit status)"
    )
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL of the run records (default: SQLite file runs.db in runs_dir; "
        "postgresql+psycopg://… with more than one API replica)",
    )
    runs_workdir: Path | None = Field(
        None,
        description="working directory of local runs, where the stages' relative paths resolve "
        "(default: the API's own)",
    )
    runner: RunnerKind = Field("local", description="where runs execute: local processes or Jobs")
    job_template_dir: Path = Field(
        Path("/etc/prodcat/jobs"),
        validation_alias=AliasChoices("DATA_JOB_TEMPLATE_DIR", "job_template_dir"),
        description="folder of the Job templates train.yaml and evaluate.yaml (the chart's "
        "ConfigMap)",
    )
    # Batch runs name their input and output relative to these roots, as the run sees them (the
    # chart sets the paths its batch pods mount: the data and the models volumes).
    batch_input_root: Path = Field(
        Path("data/batch"), description="where batch runs' input files or folders are"
    )
    batch_output_root: Path = Field(
        Path("models/batch"), description="where batch runs write their parts"
    )
    job_namespace: str | None = Field(
        None, description="namespace of the Jobs (default: the pod's own namespace, else default)"
    )
    log_tail_lines: int = Field(50, ge=0, le=1000, description="log lines shown with a run")
    reconcile_interval_s: float = Field(
        10.0, gt=0, description="how often the API refreshes the state of unfinished runs"
    )
    mlflow_ui_url: str | None = Field(
        None,
        description="public address of the MLflow UI for run links (default: the tracking URI "
        "when it is an http(s) server)",
    )
    local_start_grace_s: float = Field(
        30.0, gt=0, description="how long a local run may show no process before it counts as lost"
    )
    # Hardening of the API's edge and of its runs.
    max_body_bytes: int = Field(
        1 << 20,
        gt=0,
        description="largest request body of the JSON routes (uploads have max_file_bytes)",
    )
    header_timeout_s: float = Field(
        10.0, gt=0, description="time a client has to send a request's line and headers (408)"
    )
    body_timeout_s: float = Field(
        30.0, gt=0, description="longest wait for the next piece of a request body (408)"
    )
    max_active_runs: int = Field(
        2,
        ge=1,
        description="most runs pending or running at once, over every API replica; one more is "
        "refused with 429 until one finishes",
    )

    # Model health: feedback labels, the monitor's reports, the retraining trigger.
    feedback_dir: Path = Field(
        Path("data/feedback"), description="store of feedback labels (POST /feedback)"
    )
    inference_log_uri: str | None = Field(
        None,
        description="the predictor's inference log (folder or s3://): feedback by listing id is "
        "checked against it; unset, ids are taken as given",
    )
    feedback_lookback_days: float = Field(
        30.0, gt=0, description="how far back in the inference log a listing id is looked up"
    )
    max_feedback_items: int = Field(
        10_000, ge=1, le=1_000_000, description="most labels in one POST /feedback"
    )
    monitoring_dir: Path | None = Field(
        Path("monitoring"),
        description="where `prodcat monitor` writes its reports: /metrics serves the gauges of "
        "its latest.json",
    )
    retrain_on_alert: bool = Field(
        False,
        description="let POST /alerts/alertmanager start a retrain run per firing alert group",
    )
    retrain_require_approval: bool = Field(
        False,
        description="retrain runs never promote: the candidate stays challenger until a person "
        "runs `prodcat models promote`",
    )
    alert_webhook_token: SecretStr | None = Field(
        None,
        description="bearer token Alertmanager must send to POST /alerts/alertmanager (no "
        "default; unset, only the NetworkPolicy protects the route)",
    )
    retrain_family: Literal["linear", "transformer"] = Field(
        "linear", description="model family of retrain runs started by an alert"
    )

    def database(self) -> str:
        """The run records' SQLAlchemy URL."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.runs_dir / 'runs.db').resolve()}"

    def uploads(self) -> Path:
        """The staging folder of uploads, on the same file system as the dataset store."""
        return (self.upload_dir or self.datasets_dir.resolve().parent / ".uploads").resolve()

"""What a run request and a run look like to callers (the API's bodies and the CLI's output)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from prodcat_core.errors import InvalidInputError

RunKind = Literal["train", "evaluate", "monitor", "retrain", "batch"]
RunState = Literal["pending", "running", "succeeded", "failed", "cancelled"]
RUN_KINDS: tuple[RunKind, ...] = ("train", "evaluate", "monitor", "retrain", "batch")
RUN_STATES: tuple[RunState, ...] = ("pending", "running", "succeeded", "failed", "cancelled")
ACTIVE_STATES: tuple[RunState, ...] = ("pending", "running")
TERMINAL_STATES: tuple[RunState, ...] = ("succeeded", "failed", "cancelled")

RUN_ID_PATTERN = r"^r-[0-9a-f]{12}$"
_RUN_ID = re.compile(RUN_ID_PATTERN)
MODEL_REF_PATTERN = r"^(latest|m-[0-9a-f]{12})$"
PREPARED_REF_PATTERN = r"^(latest|pp-[0-9a-f]{12})$"
DATASET_REF_PATTERN = r"^(latest|ds-[0-9a-f]{12})$"
# What `prodcat monitor --model` takes from a request: a registry alias or version, or a model id.
MONITOR_MODEL_PATTERN = (
    r"^(models:/[A-Za-z0-9_.-]{1,64}(@[a-z][a-z0-9_-]{0,31}|/[1-9][0-9]{0,9})|m-[0-9a-f]{12})$"
)
WINDOW_PATTERN = r"^[1-9][0-9]{0,3}[mhd]$"
_PARAM_KEY = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
MAX_PARAMS = 50
MAX_PARAM_CHARS = 256

ParamValue = str | int | float | bool | None | list[int] | list[float] | list[str]


def as_run_kind(value: str) -> RunKind:
    """A stored kind as the RunKind it is."""
    for kind in RUN_KINDS:
        if kind == value:
            return kind
    raise ValueError(f"unknown run kind {value!r}")


def check_run_id(value: str) -> str:
    """Rejects anything that is not a run id (paths, `..`, other ids)."""
    if not _RUN_ID.fullmatch(value):
        raise InvalidInputError(f"{value!r} is not a run id (expected r- and 12 hex digits)")
    return value


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    prepared_id: Annotated[
        str,
        Field(
            pattern=PREPARED_REF_PATTERN,
            description="prepared dataset (pp-…) the run reads, or 'latest'",
            examples=["pp-3f2a9c0d1e4b"],
        ),
    ] = "latest"


class _Family(BaseModel):
    family: Literal["linear", "transformer"] = Field("linear", description="model family")
    params: dict[str, ParamValue] = Field(
        default_factory=dict,
        description="family parameters, passed as `--set key=value` (validated by the stage)",
        examples=[{"word_max_features": 20000, "char_max_features": 20000, "c": 0.5}],
    )

    @field_validator("params")
    @classmethod
    def _check_params(cls, value: dict[str, ParamValue]) -> dict[str, ParamValue]:
        if len(value) > MAX_PARAMS:
            raise ValueError(f"at most {MAX_PARAMS} parameters")
        for key, item in value.items():
            if not _PARAM_KEY.fullmatch(key):
                raise ValueError(f"parameter name {key!r}: lower-case letters, digits and _")
            items = item if isinstance(item, list) else [item]
            if len(items) > 16 or any(
                isinstance(i, str) and len(i) > MAX_PARAM_CHARS for i in items
            ):
                raise ValueError(f"parameter {key!r} is too long")
        return value


class TrainRequest(_Request, _Family):
    kind: Literal["train"]


class EvaluateRequest(_Request):
    kind: Literal["evaluate"]
    model: Annotated[
        str | None,
        Field(
            pattern=MODEL_REF_PATTERN,
            description="model id (m-…) to evaluate, or 'latest' (the default); or give "
            "model_version",
            examples=["m-0123456789ab"],
        ),
    ] = None
    model_version: Annotated[
        str | None,
        Field(
            pattern=r"^[1-9][0-9]{0,9}$",
            description="a version of the registered model to evaluate instead of a model id",
            examples=["3"],
        ),
    ] = None
    promote: bool = Field(
        False,
        description="move the champion alias to this model when the promotion gate passes "
        "(needs a registry version)",
    )

    @model_validator(mode="after")
    def _one_model(self) -> EvaluateRequest:
        if self.model is not None and self.model_version is not None:
            raise ValueError("give model or model_version, not both")
        return self


# A path under the batch input or output root: relative, no `..`, no hidden or odd characters.
BATCH_PATH_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_./-]{0,254}$"


class BatchRequest(BaseModel):
    """Score a catalogue in shards (`prodcat predict batch` as an Indexed Job)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["batch"]
    input: str = Field(
        pattern=BATCH_PATH_PATTERN,
        description="file or folder of CSV/Parquet listings, under the batch input root",
        examples=["catalogue/2025-01"],
    )
    output: str = Field(
        pattern=BATCH_PATH_PATTERN,
        description="folder for the parts, manifest.json and _SUCCESS, under the batch output root",
        examples=["catalogue-2025-01-v3"],
    )
    model_version: str = Field(
        pattern=r"^[1-9][0-9]{0,9}$",
        description="registry version that scores every shard",
        examples=["3"],
    )
    shards: int = Field(2, ge=1, le=1000, description="shards (pods of the Indexed Job)")

    @field_validator("input", "output")
    @classmethod
    def _inside_the_root(cls, value: str) -> str:
        if any(part.startswith(".") for part in value.split("/")):
            raise ValueError("a path under the root: no '..' and no hidden folder")
        return value


class MonitorRequest(BaseModel):
    """`prodcat monitor` over a recent window of the inference log."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["monitor"]
    model: Annotated[
        str | None,
        Field(
            pattern=MONITOR_MODEL_PATTERN,
            description="the model version whose traffic to judge: models:/<name>@<alias>, "
            "models:/<name>/<version> or m-…; default the registered model's champion",
            examples=["models:/prodcat@champion"],
        ),
    ] = None
    since: Annotated[
        str,
        Field(pattern=WINDOW_PATTERN, description="window: the last N minutes/hours/days"),
    ] = "1h"
    min_records: int | None = Field(
        None, ge=1, le=100_000_000, description="fewer records: 'not enough data', no alert"
    )


class RetrainRequest(_Family):
    """Preprocess the newest (or given) dataset version, train, evaluate with the gate: one run."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["retrain"]
    dataset_id: Annotated[
        str,
        Field(
            pattern=DATASET_REF_PATTERN,
            description="dataset (ds-…) to prepare and train on, or 'latest'",
            examples=["ds-1a2b3c4d5e6f"],
        ),
    ] = "latest"
    promote: bool | None = Field(
        None,
        description="move champion to the candidate when the gate passes (default: yes, unless "
        "DATA_RETRAIN_REQUIRE_APPROVAL, which always wins: then it stays challenger)",
    )


AnyRunRequest = TrainRequest | EvaluateRequest | MonitorRequest | RetrainRequest | BatchRequest
RunRequest = Annotated[AnyRunRequest, Field(discriminator="kind")]


class RunView(BaseModel):
    """A run as callers see it."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "r-5d41402abc4b",
                    "kind": "train",
                    "state": "succeeded",
                    "reason": None,
                    "runner": "local",
                    "prepared_id": "pp-3f2a9c0d1e4b",
                    "family": "linear",
                    "params": {"word_max_features": 20000},
                    "model": None,
                    "created_at": "2025-01-01T10:00:00Z",
                    "started_at": "2025-01-01T10:00:01Z",
                    "finished_at": "2025-01-01T10:02:31Z",
                    "exit_code": 0,
                    "outcome": {"model_id": "m-0123456789ab", "metrics": {"val_weighted_f1": 0.81}},
                    "mlflow_run_url": None,
                    "logs_tail": ["trained m-0123456789ab (linear) in 150.2s: …"],
                }
            ]
        }
    )

    id: str
    kind: RunKind
    state: RunState
    reason: str | None = Field(None, description="why it failed or was cancelled")
    runner: str
    prepared_id: str | None = Field(None, description="prepared dataset the run reads")
    dataset_id: str | None = Field(None, description="retrain: the dataset version it prepares")
    family: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    model: str | None = Field(None, description="evaluated model id; monitor: the model judged")
    model_version: str | None = Field(None, description="evaluated registry version")
    promote: bool | None = Field(None, description="evaluate runs: promotion enabled")
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    exit_code: int | None = None
    outcome: dict[str, Any] = Field(
        default_factory=dict, description="what the run reported: model id, metrics, MLflow run"
    )
    mlflow_run_url: str | None = Field(None, description="the MLflow run, when known")
    logs_tail: list[str] | None = Field(None, description="last log lines (single-run views)")

"""`/runs`: start train, evaluate and batch runs (once per Idempotency-Key), follow, cancel."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Path, Query, Response
from starlette.concurrency import run_in_threadpool

from prodcat_data.api.context import ApiContext, get_context
from prodcat_data.api.errors import ErrorBody
from prodcat_data.runs.models import (
    RUN_ID_PATTERN,
    AnyRunRequest,
    RunKind,
    RunState,
    RunView,
)

router = APIRouter(prefix="/runs", tags=["runs"])
Context = Annotated[ApiContext, Depends(get_context)]
# Documented, not enforced by FastAPI: the service checks run ids, with its message.
RunId = Annotated[
    str,
    Path(
        description="a run id",
        json_schema_extra={"pattern": RUN_ID_PATTERN},
        examples=["r-5d41402abc4b"],
    ),
]

_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "not a run id"},
    404: {"model": ErrorBody, "description": "no such run"},
}
_EXAMPLES: dict[str, Any] = {
    "train": {
        "summary": "train the linear family",
        "value": {
            "kind": "train",
            "family": "linear",
            "prepared_id": "pp-3f2a9c0d1e4b",
            "params": {"word_max_features": 20000, "char_max_features": 20000},
        },
    },
    "evaluate": {
        "summary": "evaluate a model on the test and holdout splits",
        "value": {"kind": "evaluate", "model": "m-0123456789ab", "prepared_id": "pp-3f2a9c0d1e4b"},
    },
    "monitor": {
        "summary": "judge the champion's last hour of traffic against its reference profile",
        "value": {"kind": "monitor", "model": "models:/prodcat@champion", "since": "1h"},
    },
    "retrain": {
        "summary": "preprocess the newest dataset, train, evaluate with the gate",
        "value": {"kind": "retrain", "dataset_id": "latest", "family": "linear"},
    },
    "batch": {
        "summary": "score a catalogue in 4 shards with registry version 3",
        "value": {
            "kind": "batch",
            "input": "catalogue/2025-01",
            "output": "catalogue-2025-01-v3",
            "model_version": "3",
            "shards": 4,
        },
    },
}


@router.post(
    "",
    status_code=201,
    summary="Start a train, evaluate, monitor, retrain or batch run",
    description="Starts the run through the configured runner and returns at once (201). A "
    "retrain run is preprocess → train → evaluate with the gate, one at a time (409 while one is "
    "active). With an "
    "`Idempotency-Key`, a retry of the same request returns the run it started (200) instead of "
    "starting another, from any API replica; the same key with a different body is a 409.",
    responses={
        200: {"model": RunView, "description": "this Idempotency-Key started this run already"},
        400: {"model": ErrorBody, "description": "bad input"},
        404: {"model": ErrorBody, "description": "the prepared dataset or model does not exist"},
        409: {
            "model": ErrorBody,
            "description": "the Idempotency-Key was used for another request, or a retraining "
            "is already active",
        },
        429: {
            "model": ErrorBody,
            "description": "DATA_MAX_ACTIVE_RUNS runs are active already: retry when one ends",
        },
    },
)
def start_run(
    request: Annotated[AnyRunRequest, Body(discriminator="kind", openapi_examples=_EXAMPLES)],
    response: Response,
    context: Context,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            min_length=1,
            max_length=255,
            pattern=r"^[!-~]+$",
            description="a client-chosen key (a UUID): retries with it start nothing new",
            examples=["6f1c2d3e-0a4b-4c5d-8e9f-0123456789ab"],
        ),
    ] = None,
) -> RunView:
    run, created = context.runs.start(request, idempotency_key)
    response.status_code = 201 if created else 200
    return run


@router.get("", summary="List runs, newest first")
def list_runs(
    context: Context,
    state: RunState | None = None,
    kind: RunKind | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[RunView]:
    return context.runs.list(state, kind, limit)


@router.get(
    "/{run_id}",
    summary="A run: state, timestamps, log tail, metrics, MLflow link",
    responses=_NOT_FOUND,
)
async def get_run(
    run_id: RunId,
    context: Context,
    logs: Annotated[int | None, Query(ge=0, le=1000, description="log lines to include")] = None,
) -> RunView:
    return await run_in_threadpool(context.runs.get, run_id, logs=logs)


@router.post(
    "/{run_id}/cancel",
    summary="Cancel a run",
    description="Stops the run's process or deletes its Job (foreground). Cancelling a cancelled "
    "run is a no-op; a run that has finished is a 409.",
    responses={**_NOT_FOUND, 409: {"model": ErrorBody, "description": "the run has finished"}},
)
def cancel_run(run_id: RunId, context: Context) -> RunView:
    return context.runs.cancel(run_id)

"""`/models`: the registry's champion and challenger; promote (through the gate) and roll back."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Response

from prodcat_data.api.context import ApiContext, get_context
from prodcat_data.api.errors import ErrorBody
from prodcat_data.runs.models import RunView
from prodcat_data.runs.promotion import ModelsService, ModelsView, PromoteRequest

router = APIRouter(prefix="/models", tags=["models"])
Context = Annotated[ApiContext, Depends(get_context)]

_UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {"model": ErrorBody, "description": "the MLflow tracking server is unreachable"}
}


@router.get("", summary="The champion and the challenger", responses=_UNAVAILABLE)
def show_models(context: Context) -> ModelsView:
    return ModelsService(context.runs).show()


@router.post(
    "/promote",
    status_code=202,
    summary="Promote a registry version, if the gate agrees",
    description="Starts an evaluate run of the version with promotion enabled (202 with the run): "
    "it scores the version and the champion on the same rows and the promotion gate decides. "
    "The run's `outcome.promoted` and `outcome.gate` give the decision and its reasons. An "
    "`Idempotency-Key` makes retries return the same run (200).",
    responses={
        **_UNAVAILABLE,
        200: {"model": RunView, "description": "this Idempotency-Key started this run already"},
        404: {"model": ErrorBody, "description": "no such version or prepared dataset"},
        409: {"model": ErrorBody, "description": "already the champion, or the key was reused"},
    },
)
def promote(
    body: PromoteRequest,
    response: Response,
    context: Context,
    idempotency_key: Annotated[
        str | None,
        Header(alias="Idempotency-Key", min_length=1, max_length=255, pattern=r"^[!-~]+$"),
    ] = None,
) -> RunView:
    run, created = ModelsService(context.runs).promote(body, idempotency_key)
    response.status_code = 202 if created else 200
    return run


@router.post(
    "/rollback",
    summary="Move the champion back to the previous champion",
    responses={
        **_UNAVAILABLE,
        404: {"model": ErrorBody, "description": "there is no champion"},
        409: {"model": ErrorBody, "description": "the champion replaced no earlier champion"},
    },
)
def rollback(context: Context) -> ModelsView:
    return ModelsService(context.runs).rollback()

"""`POST /feedback`: true product types for listings the predictor answered (model health)."""

from __future__ import annotations

import functools
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Request
from starlette.concurrency import run_in_threadpool

from prodcat_data.api.context import ApiContext, get_context
from prodcat_data.api.errors import ErrorBody
from prodcat_data.feedback import FeedbackItem, FeedbackReceipt, record_feedback

router = APIRouter(prefix="/feedback", tags=["feedback"])
Context = Annotated[ApiContext, Depends(get_context)]


@router.post(
    "",
    status_code=201,
    summary="Store true labels of served listings",
    description="A JSON list of labels, each naming its listing by the `listing_id` the "
    "predictor returned or by its `designation` (+ `description`), hashed as the predictor logs "
    "it. Validated like an import: known product types, non-empty text, at most "
    "`DATA_MAX_FEEDBACK_ITEMS` labels; with `DATA_INFERENCE_LOG_URI` set, every listing id must "
    "be in the inference log. The batch is stored whole (one immutable file) or not at all. "
    "`prodcat monitor` reads the labels to report real F1 and per-class recall.",
    responses={
        400: {"model": ErrorBody, "description": "bad label: the message names the item"},
        404: {"model": ErrorBody, "description": "a listing id the predictor never logged"},
        413: {"model": ErrorBody, "description": "too many labels or too long a text"},
    },
)
async def post_feedback(
    items: Annotated[list[FeedbackItem], Body(max_length=1_000_000)],
    request: Request,
    context: Context,
) -> FeedbackReceipt:
    logged = getattr(request.app.state, "logged_listing_ids", None)
    return await run_in_threadpool(
        functools.partial(record_feedback, items, context.settings, "api", logged=logged)
    )

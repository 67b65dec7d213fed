"""The predictor's own errors (HTTP statuses core's errors do not cover) and the handlers that turn
every error into `{"error": "..."}` with the right status, on every route of the app."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from prodcat_core.errors import InvalidInputError, ProdcatError, UnavailableError

logger = logging.getLogger(__name__)


class UnsupportedMediaTypeError(InvalidInputError):
    """The body is not of a content type the route reads."""

    status_code = 415


class UnprocessableError(InvalidInputError):
    """The body is well-formed but a listing in it cannot be classified (empty text, bad field)."""

    status_code = 422


class OverloadedError(UnavailableError):
    """Too many listings are waiting for the model: the caller should retry later."""

    def __init__(self, message: str, retry_after_s: int = 1) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class InferenceTimeoutError(ProdcatError):
    """The model did not answer within the request timeout."""

    status_code = 504


class InferenceFailedError(ProdcatError):
    """The model raised while predicting (a bug or a broken artifact, never the caller's input)."""

    status_code = 500


def error_response(
    status_code: int, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status_code, headers=headers)


def describe_validation_errors(errors: Sequence[Any], limit: int = 5) -> str:
    """pydantic/FastAPI validation errors as one readable line: `where: what; ...`."""
    parts = []
    for err in list(errors)[:limit]:
        path = tuple(err.get("loc", ()))
        msg = err.get("msg", "invalid")
        if not path:  # the whole object (a model-level check)
            parts.append(str(msg))
            continue
        loc = ".".join(str(p) for p in path if p != "body") or "body"
        parts.append(f"{loc}: {msg}")
    more = len(errors) - limit
    if more > 0:
        parts.append(f"... and {more} more")
    return "; ".join(parts)


async def _prodcat_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, ProdcatError)
    headers = None
    if isinstance(exc, OverloadedError):
        headers = {"Retry-After": str(exc.retry_after_s)}
    if isinstance(exc, OverloadedError):  # expected under load, counted in metrics
        logger.debug("%s", exc.message)
    elif exc.status_code >= 500:
        logger.error("%s", exc.message, extra={"error": type(exc).__name__})
    return error_response(exc.status_code, exc.message, headers)


async def _validation_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    if any(err.get("type") == "json_invalid" for err in errors):
        ctx = errors[0].get("ctx") or {}
        detail = ctx.get("error", "JSON decode error")
        return error_response(400, f"the body is not valid JSON: {detail}")
    return error_response(422, f"invalid request: {describe_validation_errors(errors)}")


async def _http_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers) if exc.headers else None
    return error_response(exc.status_code, str(exc.detail), headers)


def install_error_handlers(app: FastAPI) -> None:
    """Adds the handlers beside kserve's own (which already answer `{"error": ...}`)."""
    app.add_exception_handler(ProdcatError, _prodcat_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)

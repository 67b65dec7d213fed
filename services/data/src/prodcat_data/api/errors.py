"""Every error answer is `{"error": message}`: ProdcatError carries its status, validation errors
are 422 with the fields that are wrong, anything unexpected is a logged 500."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from prodcat_core.errors import InvalidInputError, ProdcatError

logger = logging.getLogger(__name__)

_HTTP_METHODS = frozenset({"GET", "PUT", "POST", "DELETE", "OPTIONS", "HEAD", "PATCH", "TRACE"})


class UnsupportedMediaTypeError(InvalidInputError):
    """The request body is not in a format the endpoint takes."""

    status_code = 415


class ErrorBody(BaseModel):
    error: str = Field(
        description="what is wrong and where", examples=["run r-0123456789ab not found"]
    )


def describe_validation_errors(errors: Sequence[Any]) -> str:
    """`field: problem; …`, without pydantic's internals (the body/query prefix is kept)."""
    parts: list[str] = []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body",)]
        # A discriminated union adds the tag to the location: `train.params` reads better.
        where = ".".join(loc) or "body"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "invalid request: " + "; ".join(parts[:10]) + ("; …" if len(parts) > 10 else "")


def allowed_methods(request: Request) -> list[str]:
    """The methods the OpenAPI document lists for this path (Starlette names only the first
    matching route's). A fixed path (`/datasets/import`) shadows a parameter (`{dataset_id}`)."""
    path = request.scope.get("path", request.url.path)
    document: dict[str, Any] = request.app.openapi()
    matching: list[tuple[str, dict[str, Any]]] = []
    for template, operations in document.get("paths", {}).items():
        pattern = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))
        if re.fullmatch(pattern, path):
            matching.append((template, operations))
    fixed = [ops for template, ops in matching if template == path]
    chosen = fixed or [ops for _, ops in matching]
    return sorted({m.upper() for ops in chosen for m in ops if m.upper() in _HTTP_METHODS})


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ProdcatError)
    async def prodcat_error(request: Request, exc: ProdcatError) -> JSONResponse:
        if exc.status_code >= 500:
            logger.error("%s %s: %s", request.method, request.url.path, exc.message)
        return _error(exc.status_code, exc.message)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(422, describe_validation_errors(exc.errors()))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        headers = dict(exc.headers or {})
        if exc.status_code == 404 and message == "Not Found":
            message = f"no such endpoint: {request.method} {request.url.path}"
        elif exc.status_code == 405:
            allowed = allowed_methods(request)
            headers["Allow"] = ", ".join(allowed)
            message = (
                f"{request.method} is not allowed on {request.url.path}; use {' or '.join(allowed)}"
            )
        elif exc.status_code == 400 and message == "There was an error parsing the body":
            message = "invalid request: the body is not valid JSON (UTF-8)"
        return _error(exc.status_code, message, headers)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("%s %s failed", request.method, request.url.path)
        return _error(500, f"internal error ({type(exc).__name__}); see the API's log")

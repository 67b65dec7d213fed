"""The error answers every route documents: `{"error": "..."}` with the statuses it can give.

(No `from __future__ import annotations` here: FastAPI reads these annotations at runtime.)"""

from typing import Any

from pydantic import BaseModel, Field


class ErrorOut(BaseModel):
    error: str = Field(description="what is wrong, and where")


WHY: dict[int, str] = {
    400: "malformed request: JSON, UTF-8, a tensor's shape or binary data",
    404: "no such model, version or route",
    405: "the route does not take this method",
    413: "body too large or too many listings",
    415: "a Content-Type other than JSON (or octet-stream with V2's binary extension)",
    422: "a listing or tensor the model cannot take (shape, datatype, empty text)",
    503: "overloaded (see Retry-After) or model not ready",
    504: "the model did not answer in time",
}
INFERENCE = (400, 404, 413, 415, 422, 503, 504)


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": ErrorOut, "description": WHY[code]} for code in codes}


def without_validation_errors(schema: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI without FastAPI's own 422 (`HTTPValidationError`), which it documents on every
    route with parameters: our answers are `ErrorOut`, documented where a 422 can happen, and a
    plain string path parameter cannot fail validation."""
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.get("responses", {})
            content = responses.get("422", {}).get("content", {}).get("application/json", {})
            if content.get("schema", {}).get("$ref", "").endswith("/HTTPValidationError"):
                del responses["422"]
    for name in ("HTTPValidationError", "ValidationError"):
        schema.get("components", {}).get("schemas", {}).pop(name, None)
    return schema

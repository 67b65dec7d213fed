"""What the routes share, built once per app at start-up (never at import time)."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from sqlalchemy import Engine

from prodcat_core.errors import UnavailableError
from prodcat_data.api.metrics import ApiMetrics
from prodcat_data.config import DataSettings
from prodcat_data.runs.service import RunService


@dataclass
class ApiContext:
    settings: DataSettings
    engine: Engine
    runs: RunService
    metrics: ApiMetrics


def get_context(request: Request) -> ApiContext:
    context = getattr(request.app.state, "context", None)
    if not isinstance(context, ApiContext):  # pragma: no cover - the lifespan sets it first
        raise UnavailableError("the API is starting up")
    return context

"""`/health` (alive), `/ready` (can serve: stores writable, database and MLflow reachable),
`/metrics` (Prometheus)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from prodcat_core.errors import ProdcatError
from prodcat_core.registry import check_tracking_server
from prodcat_data.api.context import ApiContext, get_context
from prodcat_data.api.schemas import CheckResult, Readiness

router = APIRouter(tags=["operations"])
Context = Annotated[ApiContext, Depends(get_context)]


@router.get("/health", summary="Liveness: the process answers")
def health() -> dict[str, str]:
    return {"status": "ok"}


def _writable(folder: Path) -> CheckResult:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".ready-{uuid.uuid4().hex}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        return CheckResult(ok=False, detail=f"{folder} is not writable: {e.strerror or e}")
    return CheckResult(ok=True, detail="writable")


@router.get(
    "/ready",
    summary="Readiness: stores writable, run database and MLflow reachable",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "a check failed"}},
)
def ready(context: Context) -> JSONResponse:
    settings = context.settings
    checks = {
        "datasets_dir": _writable(settings.datasets_dir),
        "prepared_dir": _writable(settings.prepared_dir),
        "uploads_dir": _writable(settings.uploads()),
    }
    if context.runs.runner.name == "local":
        checks["runs_dir"] = _writable(settings.runs_dir)
    try:
        with context.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        checks["database"] = CheckResult(ok=True, detail="reachable")
    except SQLAlchemyError as e:
        checks["database"] = CheckResult(ok=False, detail=f"unreachable: {type(e).__name__}")
    try:
        check_tracking_server(settings.tracking_uri, timeout_s=3.0)
        checks["mlflow"] = CheckResult(ok=True, detail="reachable or local store")
    except ProdcatError as e:
        checks["mlflow"] = CheckResult(ok=False, detail=e.message)
    ok = all(c.ok for c in checks.values())
    body = Readiness(status="ready" if ok else "not ready", checks=checks)
    return JSONResponse(body.model_dump(mode="json"), status_code=200 if ok else 503)


@router.get(
    "/metrics",
    summary="Prometheus metrics (prodcat_api_*)",
    response_class=PlainTextResponse,
)
def metrics(context: Context) -> PlainTextResponse:
    return PlainTextResponse(
        generate_latest(context.metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
    )

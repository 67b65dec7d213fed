"""The data API's app factory. `create_app(settings)` builds everything when it is called (and
the database, runner and background refresh when the app starts), nothing at import time."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from prodcat_core import __version__
from prodcat_core.datasets import dataset_store, prepared_store
from prodcat_core.errors import ProdcatError
from prodcat_core.offline_docs import add_offline_docs
from prodcat_core.slow_clients import BodyReadTimeout
from prodcat_core.staging import STAGING_PREFIX, remove_orphans
from prodcat_data.api.body_limit import BodyLimit
from prodcat_data.api.context import ApiContext
from prodcat_data.api.errors import ErrorBody, install_error_handlers
from prodcat_data.api.metrics import ApiMetrics, MetricsMiddleware
from prodcat_data.api.monitor_metrics import MonitorReportCollector
from prodcat_data.api.routes import alerts, datasets, feedback, health, runs
from prodcat_data.api.routes.datasets import UPLOAD_PREFIX
from prodcat_data.config import DataSettings
from prodcat_data.feedback import LoggedListingIds
from prodcat_data.runners import make_runner
from prodcat_data.runners.base import Runner
from prodcat_data.runs.db import open_database
from prodcat_data.runs.service import RunService

logger = logging.getLogger(__name__)

DESCRIPTION = """\
Datasets, runs and models of prodcat, the classifier of Rakuten France listings into 27 product
types. The API never trains in a request: `POST /runs` starts a train, evaluate, monitor or
retrain run through the configured runner (a local process, or a Kubernetes Job built from the
chart's template) and returns at once; follow it with `GET /runs/{run_id}`. `POST /feedback`
stores true labels of served listings; `POST /alerts/alertmanager` lets a firing model-health
alert start a retraining.

Every error answer is `{"error": "<what is wrong and where>"}`."""

TAGS = [
    {
        "name": "datasets",
        "description": "Import the challenge's files as immutable dataset versions; split them.",
    },
    {
        "name": "runs",
        "description": "Train and evaluate runs: started once per Idempotency-Key, followed, "
        "cancelled.",
    },
    {
        "name": "models",
        "description": "The registry's champion and challenger; promotion and rollback.",
    },
    {
        "name": "feedback",
        "description": "True labels of served listings, for the monitor's real F1.",
    },
    {
        "name": "alerts",
        "description": "Alertmanager's webhook: one retraining per firing alert group.",
    },
    {"name": "operations", "description": "Liveness, readiness and Prometheus metrics."},
]


def _latest_class_rows(settings: DataSettings) -> Mapping[int, int]:
    store = dataset_store(settings.datasets_dir)
    try:
        manifest = store.manifest(store.resolve("latest"))
    except ProdcatError:
        return {}
    counts: dict[str, Any] = manifest.get("class_counts", {})
    return {int(code): int(n) for code, n in counts.items()}


def remove_crash_leftovers(settings: DataSettings) -> int:
    """Removes the staging folders (uploads, versions being built) that a killed API, import or
    run left behind; a folder a live process still holds is kept. Returns how many went."""
    removed = remove_orphans(settings.uploads(), UPLOAD_PREFIX)
    for store in (dataset_store(settings.datasets_dir), prepared_store(settings.prepared_dir)):
        removed += store.remove_orphans()
    removed += remove_orphans(settings.models_dir, STAGING_PREFIX)
    return len(removed)


async def _refresh_loop(service: RunService, interval_s: float) -> None:
    """Keeps unfinished runs' state (and outcomes) current even when nobody asks."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            await run_in_threadpool(service.refresh_active)
        except Exception:  # a boundary: the loop must outlive one failed refresh
            logger.exception("refreshing runs failed")


def create_app(settings: DataSettings, *, runner: Runner | None = None) -> FastAPI:
    """The data API. `runner` replaces the one the settings choose (tests, embedding)."""
    holder: dict[str, ApiContext] = {}

    def run_counts() -> Mapping[str, int]:
        return holder["context"].runs.counts() if "context" in holder else {}

    metrics = ApiMetrics(run_counts, lambda: _latest_class_rows(settings))
    metrics.registry.register(MonitorReportCollector(settings.monitoring_dir))

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(remove_crash_leftovers, settings)
        engine = open_database(settings.database())
        service = RunService(settings, engine, runner or make_runner(settings))
        context = ApiContext(settings, engine, service, metrics)
        holder["context"] = context
        app.state.context = context
        refreshed = await run_in_threadpool(service.refresh_active)
        logger.info(
            "data API ready: %s runner, %d unfinished run(s) checked",
            service.runner.name,
            refreshed,
        )
        task = asyncio.create_task(_refresh_loop(service, settings.reconcile_interval_s))
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            engine.dispose()

    app = FastAPI(
        title="prodcat data API",
        version=__version__,
        description=DESCRIPTION,
        openapi_tags=TAGS,
        lifespan=lifespan,
        docs_url=None,  # /docs and /redoc come from add_offline_docs: no CDN
        redoc_url=None,
        responses={
            400: {"model": ErrorBody, "description": "bad input: the message says what and where"},
            422: {"model": ErrorBody, "description": "the request does not match this document"},
            500: {"model": ErrorBody, "description": "unexpected error (logged)"},
        },
    )
    if settings.inference_log_uri is not None:
        # The log's ids, kept between feedback requests (its files never change once written).
        app.state.logged_listing_ids = LoggedListingIds(settings.inference_log_uri)
    install_error_handlers(app)
    add_offline_docs(app, "prodcat data API")
    # The upload streams its files to disk under max_file_bytes; every other body is buffered.
    app.add_middleware(
        BodyLimit, max_bytes=settings.max_body_bytes, streamed={("POST", "/datasets")}
    )
    app.add_middleware(MetricsMiddleware, metrics=lambda: metrics)
    app.add_middleware(BodyReadTimeout, timeout_s=settings.body_timeout_s)  # outermost
    app.include_router(datasets.router)
    app.include_router(runs.router)
    app.include_router(feedback.router)
    app.include_router(alerts.router)
    app.include_router(health.router)
    _include_models(app)
    return app


def _include_models(app: FastAPI) -> None:
    """The models routes, when the registry module is installed."""
    try:
        from prodcat_data.api.routes import models
    except ImportError:  # pragma: no cover - the registry ships with core
        logger.warning("prodcat_core.registry is missing: /models is not served")
        return
    app.include_router(models.router)


def create_app_from_env() -> FastAPI:
    """For `uvicorn --factory` (several workers): settings from the environment, read now."""
    return create_app(DataSettings())

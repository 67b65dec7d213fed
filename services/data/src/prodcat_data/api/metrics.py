"""Prometheus metrics of the data API, all named `prodcat_api_*`, with bounded labels: route
templates (never raw paths), methods, status codes, run states and class codes."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Receive, Scope, Send

from prodcat_core.asgi import StatusWatch

PREFIX = "prodcat_api"
UNMATCHED = "<unmatched>"
_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})


class _StateCollector(Collector):
    """Gauges read at scrape time, so every replica reports what the database and store hold."""

    def __init__(
        self,
        run_counts: Callable[[], Mapping[str, int]],
        class_rows: Callable[[], Mapping[int, int]],
    ) -> None:
        self.run_counts = run_counts
        self.class_rows = class_rows

    def describe(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(f"{PREFIX}_runs", "Runs per state", labels=["state"])
        yield GaugeMetricFamily(
            f"{PREFIX}_dataset_rows", "Rows per class of the latest dataset", labels=["prdtypecode"]
        )

    def collect(self) -> Iterator[Metric]:
        runs = GaugeMetricFamily(f"{PREFIX}_runs", "Runs per state", labels=["state"])
        for state, count in self.run_counts().items():
            runs.add_metric([state], count)
        yield runs
        rows = GaugeMetricFamily(
            f"{PREFIX}_dataset_rows", "Rows per class of the latest dataset", labels=["prdtypecode"]
        )
        for code, count in sorted(self.class_rows().items()):
            rows.add_metric([str(code)], count)
        yield rows


class ApiMetrics:
    def __init__(
        self,
        run_counts: Callable[[], Mapping[str, int]],
        class_rows: Callable[[], Mapping[int, int]],
    ) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            f"{PREFIX}_requests",
            "HTTP requests by method, route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.duration = Histogram(
            f"{PREFIX}_request_duration_seconds",
            "HTTP request duration by route template",
            ["route"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
        )
        self.registry.register(_StateCollector(run_counts, class_rows))

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method if method in _METHODS else "OTHER", route, str(status)).inc()
        self.duration.labels(route).observe(seconds)


class MetricsMiddleware:
    """Counts and times every HTTP request under its route template (`/runs/{run_id}`)."""

    def __init__(self, app: ASGIApp, metrics: Callable[[], ApiMetrics | None]) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        watch = StatusWatch(send)
        try:
            await self.app(scope, receive, watch)
        finally:
            metrics = self.metrics()
            if metrics is not None:
                route: Any = scope.get("route")
                template = getattr(route, "path", None) or UNMATCHED
                metrics.observe(
                    scope["method"], str(template), watch.status, time.perf_counter() - started
                )

"""The model-health gauges on the data API's /metrics: the latest `prodcat monitor` report
(`<DATA_MONITORING_DIR>/latest.json`), read at scrape time.

Why here and not a Pushgateway: the monitor is a short Job; its report is a file on the volume
the API already reads. Serving it at scrape time keeps the last value across API restarts and
replicas (each replica reads the same file), needs no extra component, and a report that stops
being replaced stays visible as stale through `prodcat_monitor_last_report_timestamp_seconds`
(the rule `ProdcatMonitorStale`) instead of vanishing with a pushed group."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

PREFIX = "prodcat_monitor"
LATEST_FILE = "latest.json"
STATUSES = ("ok", "drift", "not_enough_data", "no_profile")


def _families() -> dict[str, GaugeMetricFamily]:
    return {
        "metric": GaugeMetricFamily(
            f"{PREFIX}_metric",
            "A metric of the latest monitor report (drift scores, shares, estimated accuracy, "
            "feedback F1), by name and model version",
            labels=["metric", "model_version"],
        ),
        "breached": GaugeMetricFamily(
            f"{PREFIX}_check_breached",
            "1 when a check of the latest monitor report is past its threshold",
            labels=["check", "model_version"],
        ),
        "threshold": GaugeMetricFamily(
            f"{PREFIX}_check_threshold",
            "The threshold of a check of the latest monitor report",
            labels=["check", "model_version"],
        ),
        "records": GaugeMetricFamily(
            f"{PREFIX}_window_records",
            "Inference log records in the latest monitor report's window",
            labels=["model_version"],
        ),
        "class_share": GaugeMetricFamily(
            f"{PREFIX}_class_share",
            "Share of answers per class in the latest monitor window (live) and in the model's "
            "reference profile (reference)",
            labels=["prdtypecode", "which", "model_version"],
        ),
        "timestamp": GaugeMetricFamily(
            f"{PREFIX}_last_report_timestamp_seconds",
            "Unix time the latest monitor report was created",
        ),
        "status": GaugeMetricFamily(
            f"{PREFIX}_status",
            "1 for the status of the latest monitor report, 0 for the others",
            labels=["status"],
        ),
    }


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


class MonitorReportCollector(Collector):
    """Reads latest.json on every scrape; no report (or an unreadable one) exports no samples."""

    def __init__(self, monitoring_dir: Path | None) -> None:
        self.path = monitoring_dir / LATEST_FILE if monitoring_dir is not None else None

    def describe(self) -> Iterator[Metric]:
        yield from _families().values()

    def _report(self) -> dict[str, Any] | None:
        if self.path is None:
            return None
        try:
            report = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as e:
            logger.warning("monitor report %s unreadable: %s", self.path, e)
            return None
        return report if isinstance(report, dict) else None

    def collect(self) -> Iterator[Metric]:
        families = _families()
        report = self._report()
        if report is not None:
            self._fill(families, report)
        yield from families.values()

    @staticmethod
    def _fill(families: dict[str, GaugeMetricFamily], report: dict[str, Any]) -> None:
        version = str((report.get("model") or {}).get("version") or "")
        for name, value in sorted((report.get("metrics") or {}).items()):
            if (number := _number(value)) is not None:
                families["metric"].add_metric([str(name), version], number)
        for check in report.get("checks") or []:
            if not isinstance(check, dict) or "name" not in check:
                continue
            labels = [str(check["name"]), version]
            families["breached"].add_metric(labels, 1.0 if check.get("breached") else 0.0)
            if (threshold := _number(check.get("threshold"))) is not None:
                families["threshold"].add_metric(labels, threshold)
        records = _number((report.get("window") or {}).get("records"))
        if records is not None:
            families["records"].add_metric([version], records)
        for code, shares in sorted((report.get("class_shares") or {}).items()):
            for which in ("live", "reference"):
                share = _number((shares or {}).get(which))
                if share is not None:
                    families["class_share"].add_metric([str(code), which, version], share)
        try:
            created = datetime.fromisoformat(str(report.get("created_at")))
        except ValueError:
            created = None
        if created is not None:
            families["timestamp"].add_metric([], created.timestamp())
        status = report.get("status")
        for known in STATUSES:
            families["status"].add_metric([known], 1.0 if status == known else 0.0)

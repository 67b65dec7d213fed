"""The monitor's report: what `prodcat monitor` writes and the data API reads for its gauges.

    <output dir>/mon-<12 hex>/report.json, report.png     one folder per run, written whole
    <output dir>/latest.json                              a copy of the newest report

A run's folder is built under a `.tmp-` name and renamed into place; `latest.json` is replaced
atomically, so a reader (the data API's /metrics) sees the previous report or the new one."""

from __future__ import annotations

import json
import re
import shutil
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError

from prodcat_core.errors import InvalidInputError
from prodcat_core.store import write_text_atomic

REPORT_FILE = "report.json"
PLOT_FILE = "report.png"
LATEST_FILE = "latest.json"
MONITOR_ID = re.compile(r"^mon-[0-9a-f]{12}$")

Status = Literal["ok", "drift", "not_enough_data", "no_profile"]
STATUSES: tuple[str, ...] = ("ok", "drift", "not_enough_data", "no_profile")

# Every key of `MonitorReport.metrics`, in the order the report lists them.
METRIC_NAMES: tuple[str, ...] = (
    "class_psi",
    "class_js",
    "confidence_mean",
    "confidence_mean_reference",
    "low_confidence_share",
    "low_confidence_share_reference",
    "estimated_accuracy",
    "reference_accuracy",
    "text_chars_median",
    "text_chars_median_reference",
    "text_length_psi",
    "empty_description_share",
    "empty_description_share_reference",
    "oov_rate",
    "oov_rate_reference",
    "feedback_rows",
    "feedback_weighted_f1",
    "feedback_macro_f1",
)


def new_monitor_id() -> str:
    return f"mon-{uuid.uuid4().hex[:12]}"


class ModelRef(BaseModel):
    name: str
    version: str | None = None
    alias: str | None = None
    model_id: str | None = None


class Window(BaseModel):
    start: datetime | None
    end: datetime | None
    records: int


class ClassShare(BaseModel):
    live: float
    reference: float | None


class Check(BaseModel):
    name: str
    value: float | None
    threshold: float
    breached: bool


class MonitorReport(BaseModel):
    monitor_id: str = Field(default_factory=new_monitor_id, pattern=MONITOR_ID.pattern)
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    model: ModelRef
    window: Window
    status: Status
    metrics: dict[str, float | None]
    class_shares: dict[str, ClassShare] = Field(default_factory=dict)
    per_class_recall: dict[str, float] = Field(default_factory=dict)
    checks: list[Check] = Field(default_factory=list)
    thresholds: dict[str, float] = Field(default_factory=dict)

    @property
    def breached(self) -> list[Check]:
        return [c for c in self.checks if c.breached]


def write_report(
    output_dir: Path, report: MonitorReport, plot: Callable[[Path], None] | None = None
) -> Path:
    """Writes `<output_dir>/<monitor_id>/` (report.json, and report.png through `plot(path)`)
    whole, then replaces latest.json; returns the run's folder."""
    if not MONITOR_ID.fullmatch(report.monitor_id):
        raise InvalidInputError(f"{report.monitor_id!r} is not a monitor id")
    output_dir.mkdir(parents=True, exist_ok=True)
    target = output_dir / report.monitor_id
    if target.exists():
        raise InvalidInputError(f"{target}: a monitor report exists there already")
    body = report.model_dump_json(indent=2) + "\n"
    tmp = output_dir / f".tmp-{uuid.uuid4().hex}"
    tmp.mkdir()
    try:
        (tmp / REPORT_FILE).write_text(body, encoding="utf-8")
        if plot is not None:
            plot(tmp / PLOT_FILE)
        tmp.rename(target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    write_text_atomic(output_dir / LATEST_FILE, body)
    return target


def read_report(path: Path) -> MonitorReport | None:
    """A report file (report.json or latest.json); None when there is none."""
    if not path.is_file():
        return None
    try:
        return MonitorReport.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, ValidationError) as e:
        raise InvalidInputError(f"{path}: not a valid monitor report: {e}") from e

"""`prodcat monitor`: a window of the inference log against the model's reference profile."""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import ValidationError

from prodcat_core.errors import InvalidInputError
from prodcat_monitor.config import MonitorSettings

if TYPE_CHECKING:
    from prodcat_core.monitor_report import MonitorReport

logger = logging.getLogger(__name__)


def register(app: typer.Typer) -> None:
    app.command(name="monitor")(monitor)


def settings_with(**overrides: Any) -> MonitorSettings:
    """MONITOR_* variables, then the options given; a bad value is an input error."""
    try:
        return MonitorSettings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors()
        )
        raise InvalidInputError(f"monitor settings (MONITOR_* / options): {problems}") from e


def render(report: MonitorReport, where: Path) -> str:
    m, w = report.metrics, report.window
    lines = [
        f"model      {report.model.name} version {report.model.version} ({report.model.model_id})",
        f"window     {w.start:%Y-%m-%d %H:%M:%S} – {w.end:%Y-%m-%d %H:%M:%S} UTC, "
        f"{w.records:,} records"
        if w.start and w.end
        else f"window     {w.records:,} records",
        f"status     {report.status}",
    ]
    for check in report.checks:
        value = "n/a" if check.value is None else f"{check.value:.4f}"
        flag = "BREACHED" if check.breached else "ok"
        lines.append(f"  {check.name:<24} {value:>8}  (threshold {check.threshold:g})  {flag}")
    if m.get("feedback_rows"):
        lines.append(
            f"feedback   {int(m['feedback_rows'] or 0):,} labelled rows: weighted F1 "
            f"{m['feedback_weighted_f1']:.4f}, macro F1 {m['feedback_macro_f1']:.4f}"
        )
    lines.append(f"report     {where}/report.json, plot {where}/report.png")
    return "\n".join(lines)


def monitor(
    model: Annotated[
        str,
        typer.Option(
            help="models:/prodcat@champion, models:/prodcat/<version>, a model id (m-…), "
            "'latest' or an artifact folder."
        ),
    ] = "models:/prodcat@champion",
    since: Annotated[
        str | None, typer.Option(help="Window: the last 30m, 1h, 7d … (default MONITOR_WINDOW).")
    ] = None,
    start: Annotated[
        datetime | None, typer.Option(help="Window start (ISO, UTC unless it says otherwise).")
    ] = None,
    end: Annotated[datetime | None, typer.Option(help="Window end (ISO; default now).")] = None,
    log_uri: Annotated[
        str | None, typer.Option(help="Inference log folder or s3:// URI (MONITOR_LOG_URI).")
    ] = None,
    feedback_dir: Annotated[
        Path | None, typer.Option(help="Feedback labels store (MONITOR_FEEDBACK_DIR).")
    ] = None,
    output_dir: Annotated[
        Path | None, typer.Option(help="Where reports go (MONITOR_OUTPUT_DIR).")
    ] = None,
    min_records: Annotated[
        int | None, typer.Option(help="Smallest window that is judged (MONITOR_MIN_RECORDS).")
    ] = None,
) -> None:
    """Compare a window of the inference log with the model's reference profile: class-mix PSI
    and Jensen-Shannon distance, confidence, estimated accuracy, text length, empty descriptions,
    OOV rate, and real F1 where feedback labels exist. Writes <output>/mon-…/report.json, a plot
    and latest.json. Exits 0 whether drift is found or not (the report says so)."""
    from prodcat_core.monitor_report import write_report
    from prodcat_monitor.monitoring import resolve_monitored_model, run_monitor, window_bounds
    from prodcat_monitor.plots import report_png

    settings = settings_with(
        log_uri=log_uri, feedback_dir=feedback_dir, output_dir=output_dir, min_records=min_records
    )
    window_start, window_end = window_bounds(since, start, end, settings.window)
    monitored = resolve_monitored_model(model, settings)
    report = run_monitor(monitored, window_start, window_end, settings)
    folder = write_report(settings.output_dir, report, lambda p: report_png(report, p))
    # One machine-readable record for whoever launched the run (the data API's runners).
    logger.info(
        "monitor result",
        extra={
            "result": {
                "monitor_id": report.monitor_id,
                "status": report.status,
                "model_id": report.model.model_id,
                "records": report.window.records,
                "breached": [c.name for c in report.breached],
                "report": str(folder / "report.json"),
            }
        },
    )
    typer.echo(render(report, folder))

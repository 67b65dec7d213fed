"""The report's picture: the class mix live vs reference, and each check against its threshold."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.pyplot as plt

from prodcat_core.monitor_report import MonitorReport


def report_png(report: MonitorReport, path: Path) -> None:
    codes = sorted(report.class_shares, key=int)
    fig, (mix, checks) = plt.subplots(
        1, 2, figsize=(13, 0.5 + 0.28 * max(len(codes), 10)), dpi=100, width_ratios=(3, 2)
    )
    positions = range(len(codes))
    live = [report.class_shares[c].live for c in codes]
    reference = [report.class_shares[c].reference or 0.0 for c in codes]
    mix.barh([p + 0.2 for p in positions], reference, height=0.4, label="reference (test split)")
    mix.barh([p - 0.2 for p in positions], live, height=0.4, label="live window")
    mix.set_yticks(list(positions), codes, fontsize=7)
    mix.invert_yaxis()
    mix.set_xlabel("share of predictions")
    mix.set_title("predicted-class mix", fontsize=10)
    mix.legend(fontsize=8, loc="lower right")

    names = [c.name for c in report.checks]
    ratios = [
        0.0 if c.value is None or c.threshold == 0 else max(c.value, 0.0) / c.threshold
        for c in report.checks
    ]
    colors = ["tab:red" if c.breached else "tab:green" for c in report.checks]
    checks.barh(range(len(names)), ratios, color=colors)
    checks.axvline(1.0, color="black", linestyle="--", linewidth=1)
    checks.set_yticks(range(len(names)), names, fontsize=8)
    checks.invert_yaxis()
    checks.set_xlabel("value / threshold (above 1: breached)")
    checks.set_title("drift checks" if names else "no checks (see status)", fontsize=10)

    window = report.window
    fig.suptitle(
        f"{report.model.name} {report.model.version or ''} ({report.model.model_id}): "
        f"{report.status.upper()}, {window.records:,} records "
        f"{window.start:%Y-%m-%d %H:%M} – {window.end:%Y-%m-%d %H:%M} UTC"
        if window.start and window.end
        else f"{report.model.name} ({report.model.model_id}): {report.status.upper()}, "
        f"{window.records:,} records",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)

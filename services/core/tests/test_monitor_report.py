"""The monitor report: written whole, latest.json replaced, read back and validated."""

from __future__ import annotations

from pathlib import Path

import pytest

from prodcat_core.errors import InvalidInputError
from prodcat_core.monitor_report import (
    LATEST_FILE,
    METRIC_NAMES,
    PLOT_FILE,
    REPORT_FILE,
    Check,
    ModelRef,
    MonitorReport,
    Window,
    read_report,
    write_report,
)


def _report(status: str = "ok") -> MonitorReport:
    return MonitorReport.model_validate(
        {
            "model": ModelRef(name="prodcat", version="3", model_id="m-0123456789ab"),
            "window": Window(start=None, end=None, records=10),
            "status": status,
            "metrics": dict.fromkeys(METRIC_NAMES, 0.5),
            "checks": [Check(name="class_psi", value=0.5, threshold=0.2, breached=True)],
        }
    )


def test_write_then_read(tmp_path: Path) -> None:
    first, second = _report(), _report("drift")

    def plot(path: Path) -> None:
        path.write_bytes(b"png")

    folder = write_report(tmp_path, first, plot)
    assert sorted(p.name for p in folder.iterdir()) == [REPORT_FILE, PLOT_FILE]
    write_report(tmp_path, second)
    assert read_report(folder / REPORT_FILE) == first
    latest = read_report(tmp_path / LATEST_FILE)
    assert latest == second
    assert latest is not None
    assert [c.name for c in latest.breached] == ["class_psi"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert read_report(tmp_path / "none.json") is None


def test_a_failed_plot_leaves_nothing(tmp_path: Path) -> None:
    def broken(_: Path) -> None:
        raise RuntimeError("plot failed")

    with pytest.raises(RuntimeError):
        write_report(tmp_path, _report(), broken)
    assert list(tmp_path.iterdir()) == []


def test_a_bad_report_file_is_an_input_error(tmp_path: Path) -> None:
    (tmp_path / LATEST_FILE).write_text('{"status": "great"}', encoding="utf-8")
    with pytest.raises(InvalidInputError, match="not a valid monitor report"):
        read_report(tmp_path / LATEST_FILE)

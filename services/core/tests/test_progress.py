"""Progress log lines: periodic lines and a final one with the rate."""

from __future__ import annotations

import logging

import pytest

from prodcat_core.progress import ProgressLog

LOGGER = "prodcat.test.progress"


def _records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == LOGGER]


def test_final_line_with_rate(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    with ProgressLog("cleaning", 30, logger=logging.getLogger(LOGGER), interval_s=3600) as p:
        for _ in range(3):
            p.advance(10)
    (final,) = _records(caplog)
    message = final.getMessage()
    assert message.startswith("cleaning: 30/30 rows (100%), ")
    assert " rows/s, took " in message
    assert final.__dict__["progress_done"] == 30
    assert final.__dict__["progress_total"] == 30
    assert final.__dict__["rate"] > 0


def test_periodic_lines_with_eta(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    log = logging.getLogger(LOGGER)
    with ProgressLog("files", 4, unit="files", logger=log, interval_s=0.0) as p:
        p.advance()
        p.advance(2)
    lines = [r.getMessage() for r in _records(caplog)]
    assert len(lines) == 3
    assert lines[0].startswith("files: 1/4 files (25%)")
    assert "ETA" in lines[0]
    assert lines[1].startswith("files: 3/4 files (75%)")
    assert lines[2].startswith("files: 3/4 files (75%)")
    assert "took" in lines[2]


def test_no_final_line_when_the_block_fails(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)

    def half_done_then_fail() -> None:
        with ProgressLog("x", 10, logger=logging.getLogger(LOGGER), interval_s=3600) as p:
            p.advance(5)
            raise RuntimeError("stop")

    with pytest.raises(RuntimeError, match="stop"):
        half_done_then_fail()
    assert _records(caplog) == []


def test_zero_total(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    with ProgressLog("nothing", 0, logger=logging.getLogger(LOGGER)):
        pass
    (final,) = _records(caplog)
    assert final.getMessage().startswith("nothing: 0/0 rows (100%), 0.0 rows/s")

"""Logging: JSON lines with bound ids, nested contexts, extras; the text format."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from prodcat_core.logging import configure_logging, log_context


@pytest.fixture(autouse=True)
def _restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    noisy = {name: logging.getLogger(name).level for name in ("urllib3", "httpx")}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, value in noisy.items():
        logging.getLogger(name).setLevel(value)


def _json_lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_json_lines_carry_level_logger_message_and_time(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "json")
    logging.getLogger("prodcat.test").info("hello %s", "été")
    logging.getLogger("prodcat.test").debug("not shown at INFO")
    (record,) = _json_lines(capsys.readouterr().out)
    assert record["message"] == "hello été"
    assert record["level"] == "info"
    assert record["logger"] == "prodcat.test"
    assert record["time"].endswith("+00:00")


def test_ids_bound_with_log_context(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "json")
    log = logging.getLogger("prodcat.test")
    with log_context(run_id="run-1", model_id="m-1", dataset_id=None):
        log.info("inside")
        with log_context(dataset_id="ds-1", model_id="m-2"):
            log.info("nested")
        log.info("back")
    log.info("outside")
    inside, nested, back, outside = _json_lines(capsys.readouterr().out)
    assert inside["run_id"] == "run-1"
    assert inside["model_id"] == "m-1"
    assert "dataset_id" not in inside  # None binds nothing
    assert nested["run_id"] == "run-1"
    assert nested["model_id"] == "m-2"
    assert nested["dataset_id"] == "ds-1"
    assert back["model_id"] == "m-1"
    assert "dataset_id" not in back
    assert not {"run_id", "model_id", "dataset_id"} & set(outside)


def test_extras_and_exceptions(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "json")
    log = logging.getLogger("prodcat.test")
    with log_context(run_id="run-1"):
        log.info("with extras", extra={"rows": 12, "path": "/x", "run_id": "explicit"})
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("failed")
    extras, failed = _json_lines(capsys.readouterr().out)
    assert extras["rows"] == 12
    assert extras["path"] == "/x"
    assert extras["run_id"] == "explicit"  # an explicit extra wins over the bound id
    assert failed["level"] == "error"
    assert "ValueError: boom" in failed["exception"]
    assert failed["run_id"] == "run-1"


def test_text_format(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("debug", "text")
    with log_context(run_id="run-1"):
        logging.getLogger("prodcat.test").debug("hello")
    assert capsys.readouterr().out == "debug   hello  run_id=run-1\n"


def test_configure_twice_keeps_one_handler(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "json")
    configure_logging("WARNING", "json")
    assert len(logging.getLogger().handlers) == 1
    logging.getLogger("prodcat.test").info("dropped")
    logging.getLogger("prodcat.test").warning("kept")
    assert [r["message"] for r in _json_lines(capsys.readouterr().out)] == ["kept"]
    assert logging.getLogger("urllib3").level == logging.WARNING

"""Logging for every entrypoint: JSON lines on stdout, with the ids of the current run and model.

Configure once, at the entrypoint, with `configure_logging`; modules only call
`logging.getLogger(__name__)`. Ids bound with `log_context(...)` are added to every record emitted
inside the block, so a Job's lines can be found by run id in any log store."""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, Literal

LogFormat = Literal["json", "text"]

_context: contextvars.ContextVar[dict[str, str]] = contextvars.ContextVar("prodcat_log_context")
_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message"}


@contextlib.contextmanager
def log_context(**ids: str | None) -> Iterator[None]:
    """Adds ids (run_id, model_id, dataset_id, ...) to every record logged inside the block."""
    merged = {**_context.get({}), **{k: v for k, v in ids.items() if v is not None}}
    token = _context.set(merged)
    try:
        yield
    finally:
        _context.reset(token)


class _ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _context.get({}).items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, bound ids and any `extra=` fields."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                payload[key] = value
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """Readable lines for a person at a terminal; bound ids are appended as key=value."""

    def format(self, record: logging.LogRecord) -> str:
        base = f"{record.levelname.lower():<7} {record.getMessage()}"
        extras = {
            k: v
            for k, v in vars(record).items()
            if k not in _STANDARD_ATTRS and not k.startswith("_")
        }
        if extras:
            base += "  " + " ".join(f"{k}={v}" for k, v in extras.items())
        if record.exc_info:
            base += "\n" + self.formatException(record.exc_info)
        return base


def configure_logging(level: str = "INFO", fmt: LogFormat = "json") -> None:
    """Sends every logger's records to stdout in one format. Safe to call again (tests, reloads)."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(_ContextFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Third-party chatter that drowns a stage's own progress lines.
    for noisy in ("urllib3", "httpx", "httpcore", "alembic", "filelock", "matplotlib"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))

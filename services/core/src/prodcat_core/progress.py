"""Progress for long steps, as periodic log lines with done/total, rate and ETA.

Log lines rather than a terminal bar: a stage runs just as often as a Kubernetes Job, where its
output ends up in a log store, as it does at a terminal."""

from __future__ import annotations

import logging
import time
from types import TracebackType


class ProgressLog:
    """Counts work done and logs `what: done/total (pct) rate/s ETA` at most every `interval_s`."""

    def __init__(
        self,
        what: str,
        total: int,
        *,
        unit: str = "rows",
        interval_s: float = 5.0,
        logger: logging.Logger | None = None,
    ) -> None:
        self.what = what
        self.total = max(total, 0)
        self.unit = unit
        self.interval_s = interval_s
        self.done = 0
        self._log = logger or logging.getLogger(__name__)
        self._start = time.monotonic()
        self._last = self._start

    def advance(self, n: int = 1) -> None:
        self.done += n
        now = time.monotonic()
        if now - self._last >= self.interval_s:
            self._last = now
            self._emit(now)

    def _emit(self, now: float, final: bool = False) -> None:
        elapsed = max(now - self._start, 1e-9)
        rate = self.done / elapsed
        pct = 100.0 * self.done / self.total if self.total else 100.0
        eta = (self.total - self.done) / rate if rate > 0 and not final else 0.0
        self._log.info(
            "%s: %d/%d %s (%.0f%%), %.1f %s/s, %s %.0fs",
            self.what,
            self.done,
            self.total,
            self.unit,
            pct,
            rate,
            self.unit,
            "took" if final else "ETA",
            elapsed if final else eta,
            extra={
                "progress_done": self.done,
                "progress_total": self.total,
                "rate": round(rate, 2),
            },
        )

    def __enter__(self) -> ProgressLog:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self._emit(time.monotonic(), final=True)

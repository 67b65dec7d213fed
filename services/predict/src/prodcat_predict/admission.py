"""Admission by cost: a request gets in only if the work already admitted plus its own can finish
well within the request timeout, at the rate the model has lately worked. Overload then degrades
into quick 503s for the surplus, not into 504s for everyone after the model did their work.

- Cost of a request: its listings' characters plus a fixed cost per listing
  (`listing_cost_chars`), so ten 5000-character listings weigh like fifty 800-character ones,
  not like ten one-liners (counting listings let a few clients of long texts starve the rest).
- Rate: cost per second of one model call, a moving average over recent calls (seeded by the
  warm-up), times the model calls that run at once.
- Budget: rate × request timeout × `wait_fraction`. Work admitted beyond it could not finish in
  time; a request that would pass it is refused at once (503 + Retry-After). The first request
  is always let in, however big, so a lone large request is never refused.
- Fairness: requests of more than one listing's cost may fill only `heavy_share` of the budget
  together (one of them is always let in when no other is admitted, so they are never starved);
  the rest is kept for one-listing requests, which the batcher also serves first, and which a
  heavy request bigger than the budget does not lock out. Heavy clients get 503s while
  one-listing callers keep their latency.
- Short model calls: a call holds at most `max_call_s` of work at the first measured rate (the
  warm-up's large batch; `call_cost`), so a one-listing request waits for at most about that
  behind the call in progress. Fixed then: from the moving rate, slower small calls would shrink
  the next calls, which would be slower still.
- Early refusal: the HTTP layer asks `refusal_for_body(Content-Length)` before reading or parsing
  the body. A body's cost is estimated from its bytes by the ratio recent requests showed
  (`learn_body`), less a margin, so a request that would be refused after parsing is mostly
  refused before, without the parsing work.

One `Admission` per worker process, made by the model with its runner; only the event loop's
thread touches it."""

from __future__ import annotations

from collections.abc import Sequence
from contextvars import ContextVar

from prodcat_predict.errors import OverloadedError

# The size of the body of the request being served, set by the HTTP layer (limits.py) once it has
# read it, so that admission can learn what a byte of body costs.
BODY_BYTES: ContextVar[int | None] = ContextVar("prodcat_body_bytes", default=None)

# The smoothing of the service rate: the weight of the newest model call.
RATE_WEIGHT = 0.2
# Cost per body byte before any request has shown it (a body's bytes are its texts, field names
# and punctuation: the cost is rarely below half of them); the early check takes this share of
# the learned ratio, so that it errs towards admitting and leaves the exact check to the batcher.
DEFAULT_COST_PER_BYTE = 0.5
EARLY_MARGIN = 0.95


class Admission:
    def __init__(
        self,
        *,
        timeout_s: float,
        wait_fraction: float = 0.5,
        heavy_share: float = 0.5,
        listing_cost_chars: int = 200,
        max_text_chars: int = 5000,
        calls: int = 1,
        retry_after_s: int = 1,
        max_call_s: float = 0.1,
    ) -> None:
        if not (0 < wait_fraction <= 1 and 0 < heavy_share <= 1) or calls < 1:
            raise ValueError("wait_fraction and heavy_share must be in (0, 1], calls >= 1")
        self.timeout_s = timeout_s
        self.wait_fraction = wait_fraction
        self.heavy_share = heavy_share
        self.listing_cost_chars = listing_cost_chars
        self.small_cost = listing_cost_chars + max_text_chars  # one listing, however long
        self.calls = calls
        self.retry_after_s = retry_after_s
        self.max_call_s = max_call_s
        self.admitted = 0.0  # cost of the requests admitted and not answered yet
        self.admitted_heavy = 0.0  # of which requests of more than one listing
        self._rate: float | None = None  # cost per second of one model call
        self._call_cost: float | None = None  # set from the first rate, then fixed
        self._cost_per_byte = DEFAULT_COST_PER_BYTE

    def cost(self, texts: Sequence[str]) -> float:
        return float(sum(len(t) for t in texts) + len(texts) * self.listing_cost_chars)

    def is_small(self, cost: float) -> bool:
        return cost <= self.small_cost

    def observe(self, cost: float, seconds: float) -> None:
        """One model call's cost and duration: the rate's moving average."""
        if seconds <= 0 or cost <= 0:
            return
        rate = cost / seconds
        if self._call_cost is None:
            self._call_cost = rate * self.max_call_s
        self._rate = (
            rate if self._rate is None else (1 - RATE_WEIGHT) * self._rate + (RATE_WEIGHT * rate)
        )

    def seed(self, cost: float, seconds: float, speed: float = 0.5) -> None:
        """The warm-up's call: the call size follows its rate, the moving rate starts at `speed`
        times it (one text repeated runs faster than real ones; erring low refuses a little more
        for the first few calls, until real ones have moved the average)."""
        self.observe(cost, seconds)
        if self._rate is not None:
            self._rate *= speed

    @property
    def throughput(self) -> float | None:
        """Cost per second the model gets through (None until a call has been timed)."""
        return None if self._rate is None else self._rate * self.calls

    @property
    def budget(self) -> float | None:
        throughput = self.throughput
        return None if throughput is None else throughput * self.timeout_s * self.wait_fraction

    def call_cost(self) -> float | None:
        """The most cost one model call should hold (None until the rate is known)."""
        return self._call_cost

    def refusal(self, cost: float) -> str | None:
        """Why a request of this cost is refused now, or None when it may come in.

        Two lanes: heavy requests together within `heavy_share` of the budget (one of them always
        when none is admitted and one-listing requests keep to their share), and with the rest
        within the budget; one-listing requests within
        the budget less what heavy requests hold of their share, so that a heavy request bigger
        than the budget never locks them out (they are served first in the queue anyway)."""
        budget, throughput = self.budget, self.throughput
        if budget is None or throughput is None or self.admitted <= 0:
            return None
        heavy_limit = budget * self.heavy_share
        if self.is_small(cost):
            small = self.admitted - self.admitted_heavy
            limit = budget - min(self.admitted_heavy, heavy_limit)
            if small + cost <= limit:
                return None
            waiting, kind = small, " for one-listing requests"
        else:
            small = self.admitted - self.admitted_heavy
            if (self.admitted_heavy <= 0 and small <= budget - heavy_limit) or (
                self.admitted_heavy + cost <= heavy_limit and self.admitted + cost <= budget
            ):
                return None
            waiting, limit = self.admitted_heavy, heavy_limit
            kind = " for requests of more than one listing"
        return (
            f"the predictor is overloaded: {waiting / throughput:.2f}s of work is already "
            f"waiting{kind} (limit {limit / throughput:.2f}s); retry in {self.retry_after_s}s"
        )

    def refusal_for_body(self, content_length: int) -> str | None:
        """The early check, from the body's declared size, before the body is read."""
        return self.refusal(content_length * self._cost_per_byte * EARLY_MARGIN)

    def learn_body(self, content_length: int, cost: float) -> None:
        """A parsed request's body size and cost: the ratio the early check estimates with."""
        if content_length > 0:
            ratio = cost / content_length
            self._cost_per_byte = (1 - RATE_WEIGHT) * self._cost_per_byte + RATE_WEIGHT * ratio

    def admit(self, cost: float) -> None:
        """Counts the request in, or raises OverloadedError (503). Pair with `release`."""
        reason = self.refusal(cost)
        if reason is not None:
            raise OverloadedError(reason, self.retry_after_s)
        self.admitted += cost
        if not self.is_small(cost):
            self.admitted_heavy += cost

    def release(self, cost: float) -> None:
        self.admitted = max(0.0, self.admitted - cost)
        if not self.is_small(cost):
            self.admitted_heavy = max(0.0, self.admitted_heavy - cost)

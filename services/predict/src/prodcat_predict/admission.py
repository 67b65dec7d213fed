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
- Fairness: a request of more than one listing's cost may fill only `heavy_share` of the budget;
  the rest is kept for one-listing requests, which the batcher also serves first. Heavy clients
  get 503s while one-listing callers keep their latency.
- Early refusal: the HTTP layer asks `refusal_for_body(Content-Length)` before reading or parsing
  the body, with a cost no larger than the body's can be (half its bytes), so a request that
  would be refused after parsing is mostly refused before.

One `Admission` per worker process, made by the model with its runner; only the event loop's
thread touches it."""

from __future__ import annotations

from collections.abc import Sequence

from prodcat_predict.errors import OverloadedError

# The smoothing of the service rate: the weight of the newest model call.
RATE_WEIGHT = 0.2
# A JSON body of n bytes holds at least n/2 characters of text in a loaded predictor's requests
# (field names and punctuation are the rest); the early check assumes no more cost than that.
BODY_TEXT_SHARE = 0.5


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
        self.admitted = 0.0  # cost of the requests admitted and not answered yet
        self._rate: float | None = None  # cost per second of one model call

    def cost(self, texts: Sequence[str]) -> float:
        return float(sum(len(t) for t in texts) + len(texts) * self.listing_cost_chars)

    def is_small(self, cost: float) -> bool:
        return cost <= self.small_cost

    def observe(self, cost: float, seconds: float) -> None:
        """One model call's cost and duration: the rate's moving average."""
        if seconds <= 0 or cost <= 0:
            return
        rate = cost / seconds
        self._rate = (
            rate if self._rate is None else (1 - RATE_WEIGHT) * self._rate + (RATE_WEIGHT * rate)
        )

    @property
    def throughput(self) -> float | None:
        """Cost per second the model gets through (None until a call has been timed)."""
        return None if self._rate is None else self._rate * self.calls

    @property
    def budget(self) -> float | None:
        throughput = self.throughput
        return None if throughput is None else throughput * self.timeout_s * self.wait_fraction

    def refusal(self, cost: float) -> str | None:
        """Why a request of this cost is refused now, or None when it may come in."""
        budget, throughput = self.budget, self.throughput
        if budget is None or throughput is None or self.admitted <= 0:
            return None
        small = self.is_small(cost)
        limit = budget if small else budget * self.heavy_share
        if self.admitted + cost <= limit:
            return None
        waiting_s = self.admitted / throughput
        kind = "" if small else " for requests of more than one listing"
        return (
            f"the predictor is overloaded: {waiting_s:.1f}s of work is already waiting{kind} "
            f"(limit {limit / throughput:.1f}s); retry in {self.retry_after_s}s"
        )

    def refusal_for_body(self, content_length: int) -> str | None:
        """The early check, from the body's declared size, before the body is read."""
        return self.refusal(content_length * BODY_TEXT_SHARE)

    def admit(self, cost: float) -> None:
        """Counts the request in, or raises OverloadedError (503). Pair with `release`."""
        reason = self.refusal(cost)
        if reason is not None:
            raise OverloadedError(reason, self.retry_after_s)
        self.admitted += cost

    def release(self, cost: float) -> None:
        self.admitted = max(0.0, self.admitted - cost)

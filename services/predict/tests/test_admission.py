"""Admission by cost on its own, in the batcher (with the stand-in model of test_batching) and in
the HTTP layer: what is admitted can finish within the timeout, heavy requests are refused before
one-listing ones, one-listing requests are served first, and the early refusal answers 503
without reading the body."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from fastapi import FastAPI

from prodcat_core.asgi import Message, Receive, Scope, Send
from prodcat_predict.admission import Admission
from prodcat_predict.batching import MicroBatcher, Scored
from prodcat_predict.errors import OverloadedError
from prodcat_predict.limits import RequestLimits

from .test_batching import FakeModel, run


def seeded(rate: float = 1000.0) -> Admission:
    """An admission whose model gets through `rate` cost per second; budget = rate * 10 * 0.5."""
    admission = Admission(timeout_s=10.0, listing_cost_chars=100, max_text_chars=400)
    admission.observe(rate, 1.0)
    return admission


def test_cost_counts_characters_and_listings() -> None:
    admission = seeded()
    assert admission.cost(["abc", "de"]) == 5 + 2 * 100
    assert admission.is_small(admission.cost(["x" * 400]))  # one listing, however long
    assert not admission.is_small(admission.cost(["x" * 200] * 2))


def test_admitted_work_stays_within_the_timeout_and_heavy_requests_go_first() -> None:
    admission = seeded()  # budget 5000, heavy requests up to 2500
    admission.admit(2000)  # heavy
    with pytest.raises(OverloadedError, match="more than one listing"):
        admission.admit(1000)  # heavy: 3000 > 2500
    admission.admit(500)  # small: 2500 <= 5000
    admission.admit(500)
    admission.admit(500)
    with pytest.raises(OverloadedError, match="overloaded"):
        admission.admit(2001)
    admission.release(2000)
    admission.admit(1000)  # room again
    assert admission.admitted == pytest.approx(2500)


def test_the_first_request_is_always_admitted_and_no_rate_means_no_refusal() -> None:
    unmeasured = Admission(timeout_s=1.0)
    unmeasured.admit(1e9)
    unmeasured.admit(1e9)
    admission = seeded()
    admission.admit(1e6)  # nothing else admitted: a lone huge request is served
    assert admission.refusal(1000) is not None  # another heavy one waits its turn
    admission.admit(300)  # a one-listing request is not locked out by it
    assert admission.refusal(300) is None


def test_the_rate_follows_recent_model_calls() -> None:
    admission = seeded(rate=1000.0)
    for _ in range(30):
        admission.observe(100.0, 1.0)  # the model got ten times slower
    assert admission.throughput == pytest.approx(100.0, rel=0.05)
    assert admission.budget == pytest.approx(500.0, rel=0.05)


def test_one_listing_requests_overtake_queued_heavy_ones() -> None:
    model = FakeModel()
    model.release.clear()  # the first call blocks until released

    async def scenario() -> None:
        batcher = MicroBatcher(model.predict_proba, max_batch_size=4, max_wait_s=0.0)
        heavy = [
            asyncio.ensure_future(batcher.submit([f"h{i}-{j}" for j in range(4)], 5))
            for i in range(3)
        ]
        await asyncio.sleep(0.05)  # the first heavy request is in the (blocked) model call
        small = asyncio.ensure_future(batcher.submit(["small"], 5))
        await asyncio.sleep(0.05)
        model.release.set()
        await asyncio.gather(*heavy, small)
        await batcher.close()

    run(scenario)
    assert model.calls[0][0].startswith("h0")
    assert model.calls[1] == ["small"]  # before h1 and h2, which arrived earlier


def test_the_batcher_refuses_heavy_work_past_the_budget_and_admits_small() -> None:
    model = FakeModel()
    model.release.clear()
    admission = seeded(rate=2000.0)  # budget 10000, heavy 5000; a 4 x 100-char request: 800

    async def scenario() -> tuple[int, int]:
        batcher = MicroBatcher(
            model.predict_proba, max_batch_size=4, max_wait_s=0.0, admission=admission
        )
        admitted: list[asyncio.Task[Scored]] = []
        refused = 0
        for _ in range(20):
            try:
                task = asyncio.ensure_future(batcher.submit(["x" * 100] * 4, 5))
                await asyncio.sleep(0)
                if task.done() and isinstance(task.exception(), OverloadedError):
                    refused += 1
                else:
                    admitted.append(task)
            except OverloadedError:
                refused += 1
        small = asyncio.ensure_future(batcher.submit(["one listing"], 5))
        await asyncio.sleep(0)
        assert not small.done()  # admitted, waiting
        model.release.set()
        await asyncio.gather(*admitted, small)
        await batcher.close()
        return len(admitted), refused

    admitted, refused = run(scenario)
    assert admitted == 6  # 6 x 800 = 4800 <= 5000 < 7 x 800
    assert refused == 14
    assert admission.admitted == 0  # every admitted request released its cost


def test_the_early_refusal_reads_no_body() -> None:
    admission = seeded()
    admission.admit(3000)  # work is waiting: a 6000-byte body (cost >= 3000) cannot fit
    reached: list[str] = []
    app = FastAPI()

    @app.post("/v1/products:classify")
    async def classify() -> dict[str, str]:
        reached.append("app")
        return {}

    limited = RequestLimits(app, max_body_bytes=1 << 20, admission=lambda: admission)
    reads = 0

    async def scenario() -> tuple[httpx.Response, int, httpx.Response]:
        async def counting_app(scope: Scope, receive: Receive, send: Send) -> None:
            async def counted() -> Message:
                nonlocal reads
                reads += 1
                return await receive()

            await limited(scope, counted, send)

        transport = httpx.ASGITransport(app=counting_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            big = await client.post("/v1/products:classify", content=b"x" * 6000)
            reads_of_big = reads
            small = await client.post("/v1/products:classify", content=b'{"text": "x"}')
        return big, reads_of_big, small

    big, reads_of_big, small = asyncio.run(scenario())
    assert big.status_code == 503
    assert big.headers["retry-after"] == "1"
    assert "overloaded" in big.json()["error"]
    assert reached == ["app"]  # only the small request got through
    assert reads_of_big == 0  # the refused body was never read
    assert small.status_code == 200


def test_heavy_requests_are_never_starved_by_small_ones() -> None:
    admission = seeded()  # budget 5000, heavy requests up to 2500 together
    for _ in range(4):
        admission.admit(500)  # one-listing requests keep 2000 admitted
    admission.admit(1500)  # no heavy request is admitted: this one gets its turn
    with pytest.raises(OverloadedError, match="more than one listing"):
        admission.admit(1500)  # 1500 + 1500 > 2500
    assert admission.admitted_heavy == 1500


def test_model_calls_hold_at_most_max_call_s_of_work() -> None:
    model = FakeModel(delay_s=0.08)  # 80 characters in 0.08 s: the rate stays about 1000/s
    admission = Admission(timeout_s=10.0, listing_cost_chars=0, max_call_s=0.1)
    admission.observe(1000.0, 1.0)  # a call may hold 100 cost: 100 characters

    async def scenario() -> None:
        batcher = MicroBatcher(
            model.predict_proba, max_batch_size=32, max_wait_s=0.0, admission=admission
        )
        await batcher.submit(["x" * 40] * 6, 5)  # 240 characters: three calls of 80
        await batcher.submit(["y" * 300], 5)  # one text over the cap is a call of its own
        await batcher.close()

    run(scenario)
    assert [len(c) for c in model.calls] == [2, 2, 2, 1]


def test_the_early_estimate_learns_what_a_body_byte_costs() -> None:
    admission = seeded()
    for _ in range(8):
        admission.admit(500)  # 4000 of one-listing requests admitted
    assert admission.refusal_for_body(2000) is None  # 2000 bytes x 0.5 x 0.8 = 800: fits
    for _ in range(40):
        admission.learn_body(1000, 3000.0)  # bodies turn out to cost 3 per byte
    assert admission.refusal_for_body(2000) is not None  # ~4800 more: past the budget


def test_the_warm_up_seeds_the_call_size_and_a_cautious_rate() -> None:
    admission = Admission(timeout_s=10.0, max_call_s=0.1)
    admission.seed(1000.0, 1.0)
    assert admission.call_cost() == pytest.approx(100.0)  # the warm-up's own rate
    assert admission.throughput == pytest.approx(500.0)  # half of it until real calls come

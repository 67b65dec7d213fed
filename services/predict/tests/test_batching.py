"""The micro-batcher and the direct runner on their own, with a stand-in model that records its
calls: batching of concurrent requests, chunking, timeouts, a full queue, error propagation and
shutdown."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import numpy as np
import numpy.typing as npt
import pytest

from prodcat_core.errors import UnavailableError
from prodcat_predict.batching import DirectRunner, MicroBatcher
from prodcat_predict.errors import InferenceFailedError, InferenceTimeoutError, OverloadedError

T = TypeVar("T")


class FakeModel:
    """Probability rows that encode the text (its length), and a record of every call."""

    def __init__(self, delay_s: float = 0.0, fail_on: str | None = None) -> None:
        self.calls: list[list[str]] = []
        self.delay_s = delay_s
        self.fail_on = fail_on
        self.release = threading.Event()
        self.release.set()

    def predict_proba(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        self.calls.append(list(texts))
        self.release.wait(5)
        if self.delay_s:
            threading.Event().wait(self.delay_s)
        if self.fail_on is not None and self.fail_on in texts:
            raise RuntimeError(f"cannot score {self.fail_on!r}")
        return np.array([[len(t), 1.0] for t in texts], dtype=np.float32)


def run(coro_fn: Callable[[], Awaitable[T]]) -> T:
    async def main() -> T:
        return await coro_fn()

    return asyncio.run(main())


def test_concurrent_requests_are_answered_by_one_call_each_with_its_rows() -> None:
    model = FakeModel()
    sizes: list[int] = []

    async def scenario() -> list[npt.NDArray[np.float32]]:
        batcher = MicroBatcher(
            model.predict_proba,
            max_batch_size=64,
            max_wait_s=0.05,
            on_batch=lambda n, _: sizes.append(n),
        )
        requests = [["a" * i, "b" * (i + 10)] for i in range(1, 6)]
        results = await asyncio.gather(*(batcher.submit(r, timeout_s=5) for r in requests))
        await batcher.close()
        return [r.proba for r in results]

    results = run(scenario)
    assert len(model.calls) == 1
    assert sizes == [10]
    for i, proba in enumerate(results, start=1):
        assert proba[:, 0].tolist() == [i, i + 10]  # each request got its own rows back


def test_batches_never_exceed_the_maximum_and_big_requests_are_cut() -> None:
    model = FakeModel()

    async def scenario() -> npt.NDArray[np.float32]:
        batcher = MicroBatcher(model.predict_proba, max_batch_size=4, max_wait_s=0.01)
        big, *small = await asyncio.gather(
            batcher.submit(["x" * i for i in range(1, 11)]),
            *(batcher.submit(["y"]) for _ in range(5)),
        )
        await batcher.close()
        assert all(s.proba.shape == (1, 2) for s in small)
        return big.proba

    big = run(scenario)
    assert big[:, 0].tolist() == list(range(1, 11))  # in order, across chunks
    assert max(len(c) for c in model.calls) <= 4
    assert sum(len(c) for c in model.calls) == 15


def test_parallel_calls_split_the_listings_in_flight_between_them() -> None:
    both_running = threading.Barrier(2, timeout=5)  # broken unless two calls overlap
    calls: list[list[str]] = []

    def predict(texts: Sequence[str]) -> npt.NDArray[np.float32]:
        calls.append(list(texts))
        both_running.wait()
        return np.array([[len(t), 1.0] for t in texts], dtype=np.float32)

    async def scenario() -> list[int]:
        batcher = MicroBatcher(predict, max_batch_size=32, max_wait_s=0.05, concurrency=2)
        results = await asyncio.gather(*(batcher.submit([f"t{i}"], timeout_s=10) for i in range(8)))
        await batcher.close()
        return [r.batch_size for r in results]

    sizes = run(scenario)
    assert sorted(len(c) for c in calls) == [4, 4]  # not one call of 8 beside an idle slot
    assert sizes == [4] * 8


def test_a_lone_request_is_not_held_back_at_low_load() -> None:
    model = FakeModel()

    async def scenario() -> None:
        batcher = MicroBatcher(model.predict_proba, max_batch_size=32, max_wait_s=1.0)
        for text in ("un", "deux"):  # far apart: nobody to wait for
            scored = await batcher.submit([text], timeout_s=5)
            assert scored.batch_size == 1
            assert scored.queue_s < 0.5
            await asyncio.sleep(1.1)
        await batcher.close()

    run(scenario)


def test_requests_arriving_close_together_wait_for_each_other() -> None:
    model = FakeModel()
    model.release.clear()  # a first call keeps the model busy while the others arrive

    async def scenario() -> list[int]:
        batcher = MicroBatcher(model.predict_proba, max_batch_size=32, max_wait_s=0.2)
        first = asyncio.ensure_future(batcher.submit(["busy"], timeout_s=5))
        pending = []
        for i in range(6):  # arrivals 10 ms apart, well within the 200 ms wait
            await asyncio.sleep(0.01)
            if i == 1:
                model.release.set()
            pending.append(asyncio.ensure_future(batcher.submit([f"t{i}"], timeout_s=5)))
        results = await asyncio.gather(first, *pending)
        await batcher.close()
        return [r.batch_size for r in results]

    sizes = run(scenario)
    assert sizes[0] == 1
    assert max(sizes[1:]) > 1  # the later ones shared a call
    assert len(model.calls) < 7


def test_timeout_raises_504_and_drops_the_waiting_listings() -> None:
    model = FakeModel()
    model.release.clear()  # the first call blocks until released

    async def scenario() -> None:
        batcher = MicroBatcher(model.predict_proba, max_batch_size=8, max_wait_s=0.0)
        first = asyncio.ensure_future(batcher.submit(["first"], timeout_s=5))
        await asyncio.sleep(0.05)  # "first" is now in the model
        with pytest.raises(InferenceTimeoutError, match=r"within 0\.05s"):
            await batcher.submit(["late"], timeout_s=0.05)
        assert batcher.queued == 1  # still queued until the collector skips it
        model.release.set()
        assert (await first).proba.shape == (1, 2)
        await asyncio.sleep(0.05)
        after = await batcher.submit(["after"], timeout_s=5)
        assert after.proba[0, 0] == len("after")
        assert batcher.queued == 0
        await batcher.close()

    run(scenario)
    assert ["late"] not in model.calls  # a timed-out request is never computed


def test_full_queue_answers_overloaded_at_once() -> None:
    model = FakeModel()
    model.release.clear()

    async def scenario() -> None:
        batcher = MicroBatcher(
            model.predict_proba, max_batch_size=2, max_wait_s=0.0, max_queue=3, retry_after_s=7
        )
        running = asyncio.ensure_future(batcher.submit(["a", "b"], timeout_s=5))
        await asyncio.sleep(0.05)  # a, b are in the model; the queue is empty again
        waiting = asyncio.ensure_future(batcher.submit(["c", "d", "e"], timeout_s=5))
        await asyncio.sleep(0.01)
        with pytest.raises(OverloadedError) as refused:
            await batcher.submit(["f"], timeout_s=5)
        assert refused.value.retry_after_s == 7
        assert refused.value.status_code == 503
        model.release.set()
        await asyncio.gather(running, waiting)
        assert (await batcher.submit(["g"], timeout_s=5)).proba.shape == (1, 2)
        await batcher.close()

    run(scenario)


def test_a_model_error_fails_its_batch_only() -> None:
    model = FakeModel(fail_on="boom")

    async def scenario() -> None:
        batcher = MicroBatcher(model.predict_proba, max_batch_size=8, max_wait_s=0.02)
        results = await asyncio.gather(
            batcher.submit(["ok"]), batcher.submit(["boom"]), return_exceptions=True
        )
        assert all(isinstance(r, InferenceFailedError) for r in results)
        assert "cannot score 'boom'" in str(results[0])
        later = await batcher.submit(["fine"], timeout_s=5)  # the batcher carries on
        assert later.proba[0, 0] == len("fine")
        await batcher.close()

    run(scenario)


def test_a_wrong_number_of_rows_is_an_inference_error() -> None:
    async def scenario() -> None:
        batcher = MicroBatcher(lambda texts: np.zeros((1, 2), np.float32), max_wait_s=0.0)
        with pytest.raises(InferenceFailedError, match="shape"):
            await batcher.submit(["a", "b"], timeout_s=5)
        await batcher.close()

    run(scenario)


def test_close_fails_waiting_requests_with_503() -> None:
    model = FakeModel()
    model.release.clear()

    async def scenario() -> None:
        batcher = MicroBatcher(model.predict_proba, max_batch_size=1, max_wait_s=0.0)
        running = asyncio.ensure_future(batcher.submit(["a"], timeout_s=5))
        await asyncio.sleep(0.05)
        waiting = asyncio.ensure_future(batcher.submit(["b"], timeout_s=5))
        await asyncio.sleep(0.01)
        closing = asyncio.ensure_future(batcher.close())
        await asyncio.sleep(0.01)
        model.release.set()
        await closing
        assert (await running).proba.shape == (1, 2)  # a running call finishes
        with pytest.raises(UnavailableError, match="shutting down"):
            await waiting
        with pytest.raises(UnavailableError):
            await batcher.submit(["c"])

    run(scenario)


def test_direct_runner_calls_the_model_per_request() -> None:
    model = FakeModel()

    async def scenario() -> None:
        runner = DirectRunner(model.predict_proba, max_queue=10)
        results = await asyncio.gather(
            *(runner.submit([f"t{i}", "u"], timeout_s=5) for i in range(3))
        )
        assert all(r.batch_size == 2 for r in results)
        await runner.close()

    run(scenario)
    assert sorted(map(len, model.calls)) == [2, 2, 2]


def test_direct_runner_overload_timeout_and_errors() -> None:
    model = FakeModel(fail_on="boom")
    model.release.clear()

    async def scenario() -> None:
        runner = DirectRunner(model.predict_proba, max_queue=2)
        with pytest.raises(InferenceTimeoutError):
            await runner.submit(["slow"], timeout_s=0.05)
        blocked = asyncio.ensure_future(runner.submit(["a", "b"], timeout_s=5))
        await asyncio.sleep(0.01)
        with pytest.raises(OverloadedError):
            await runner.submit(["c"], timeout_s=5)
        model.release.set()
        await blocked
        with pytest.raises(InferenceFailedError, match="boom"):
            await runner.submit(["boom"], timeout_s=5)
        await runner.close()

    run(scenario)

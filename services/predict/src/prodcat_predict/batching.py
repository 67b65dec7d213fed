"""Adaptive micro-batching: listings from concurrent requests share one model call.

`MicroBatcher.submit(texts)` puts a request's texts on an asyncio queue and awaits its future. One
collector task takes the oldest waiting request and adds the ones queued behind it until the batch
holds `max_batch_size` listings or the oldest has waited `max_wait_s`; it then runs
`predict(texts)` once in a worker thread (the event loop stays free to parse the next requests) and
resolves each request's future with its rows.

Adaptive: the batch size follows the load. While a batch runs, the next requests pile up and are
sent together as soon as the model is free (the wait counts from the oldest request's arrival, so
a backlog is never held back). When the queue is empty the collector waits for companions only if
requests have lately been overlapping (a moving average of how many were in flight when each one
arrived is above 1.5): one client at a time, or a trickle, is answered at once instead of paying
`max_wait_s` for companions that are not coming.

At most `concurrency` model calls run at a time, and a batch holds at most its share of the
listings in flight (in flight / concurrency): with 8 listings in flight and 2 calls at once, two
batches of 4 run side by side instead of one of 8 beside an idle slot. On a CPU with many cores a
small transformer runs several few-threaded calls far faster than one call on all the threads
(benchmarks/threads.py). A request bigger than `max_batch_size` is cut into chunks. More than
`max_queue` waiting listings → `OverloadedError` (503 + Retry-After) at once instead of an
ever-longer queue; a request not answered within its timeout → `InferenceTimeoutError` (504) and
its listings are dropped from the queue if still there. A model error fails exactly the requests
of that batch.

With an `Admission` (admission.py), a request is also refused (503) when the work admitted ahead
of it could not finish well within the timeout, counted in cost (characters and listings), and
one-listing requests are taken from the queue before bigger ones (a priority queue, arrival order
within each class), so a few clients of many long texts cannot starve them.

`DirectRunner` is the same interface without batching: one model call per request."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

from prodcat_core.errors import UnavailableError
from prodcat_predict.admission import BODY_BYTES, Admission
from prodcat_predict.errors import InferenceFailedError, InferenceTimeoutError, OverloadedError

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float32]
PredictFn = Callable[[list[str]], FloatArray]
# Called once per model call with (listings in the call, seconds the call took).
BatchObserver = Callable[[int, float], None]


@dataclass(frozen=True)
class Scored:
    """One request's rows of probabilities and how it was served."""

    proba: FloatArray
    queue_s: float  # from submit to the start of its (last) model call
    infer_s: float  # duration of its (longest) model call
    batch_size: int  # listings in its (largest) model call


class Runner(Protocol):
    async def submit(self, texts: Sequence[str], timeout_s: float | None = None) -> Scored: ...

    async def close(self) -> None: ...

    @property
    def queued(self) -> int: ...


def _check_rows(proba: FloatArray, n: int) -> FloatArray:
    if proba.ndim != 2 or proba.shape[0] != n:
        raise InferenceFailedError(f"the model returned shape {proba.shape} for {n} texts")
    return proba


def _admit(admission: Admission | None, texts: Sequence[str]) -> tuple[float, int]:
    """Counts a request in (or raises OverloadedError): its cost, and its queue priority (0 for a
    one-listing request, served first)."""
    if admission is None:
        return 0.0, 0 if len(texts) == 1 else 1
    cost = admission.cost(texts)
    body_bytes = BODY_BYTES.get()
    if body_bytes is not None:
        admission.learn_body(body_bytes, cost)
    admission.admit(cost)
    return cost, 0 if admission.is_small(cost) else 1


def _chunks(texts: Sequence[str], max_size: int, admission: Admission | None) -> list[list[str]]:
    """A request cut into model calls of at most `max_size` listings and, with admission, at most
    `call_cost` each (a lone text over it is a chunk of its own)."""
    max_cost = admission.call_cost() if admission is not None else None
    if admission is None or max_cost is None:
        return [list(texts[i : i + max_size]) for i in range(0, len(texts), max_size)]
    chunks: list[list[str]] = [[]]
    cost = 0.0
    for text in texts:
        text_cost = admission.cost([text])
        if chunks[-1] and (len(chunks[-1]) >= max_size or cost + text_cost > max_cost):
            chunks.append([])
            cost = 0.0
        chunks[-1].append(text)
        cost += text_cost
    return chunks


@dataclass(eq=False)
class _Pending:
    texts: list[str]
    future: asyncio.Future[Scored]
    cost: float = 0.0  # admission's cost of these texts (0 without admission)
    enqueued_at: float = field(default_factory=time.perf_counter)


class MicroBatcher:
    def __init__(
        self,
        predict: PredictFn,
        *,
        max_batch_size: int = 32,
        max_wait_s: float = 0.002,
        max_queue: int = 2048,
        concurrency: int = 1,
        retry_after_s: int = 1,
        on_batch: BatchObserver | None = None,
        admission: Admission | None = None,
    ) -> None:
        if max_batch_size < 1 or max_queue < 1 or concurrency < 1 or max_wait_s < 0:
            raise ValueError(
                "max_batch_size, max_queue and concurrency must be >= 1, max_wait_s >= 0"
            )
        self._predict = predict
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_s
        self.max_queue = max_queue
        self.retry_after_s = retry_after_s
        self._on_batch = on_batch
        self._concurrency = concurrency
        self._admission = admission
        # (priority, arrival, request): one-listing requests first, then in arrival order.
        self._queue: asyncio.PriorityQueue[tuple[int, int, _Pending]] | None = None
        self._arrivals = itertools.count()
        self._carry: _Pending | None = None
        self._queued = 0
        self._slots: asyncio.Semaphore | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._collector: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()
        self._closed = False
        self._in_flight = 0  # requests submitted and not answered yet
        self._in_flight_listings = 0
        self._overlap = 1.0  # moving average of `_in_flight` seen by each arriving request

    @property
    def queued(self) -> int:
        """Listings waiting for a model call."""
        return self._queued

    def _start(self) -> asyncio.PriorityQueue[tuple[int, int, _Pending]]:
        if self._queue is None:
            self._queue = asyncio.PriorityQueue()
            self._slots = asyncio.Semaphore(self._concurrency)
            self._executor = ThreadPoolExecutor(
                self._concurrency, thread_name_prefix="prodcat-infer"
            )
            self._collector = asyncio.get_running_loop().create_task(self._collect_forever())
        return self._queue

    async def submit(self, texts: Sequence[str], timeout_s: float | None = None) -> Scored:
        if self._closed:
            raise UnavailableError("the predictor is shutting down")
        if not texts:
            return Scored(np.zeros((0, 0), dtype=np.float32), 0.0, 0.0, 0)
        queue = self._start()
        if self._queued + len(texts) > self.max_queue:
            raise OverloadedError(
                f"the predictor is overloaded ({self._queued} listings waiting, limit "
                f"{self.max_queue}); retry in {self.retry_after_s}s",
                self.retry_after_s,
            )
        cost, priority = _admit(self._admission, texts)
        loop = asyncio.get_running_loop()
        admission = self._admission
        chunks = [
            _Pending(chunk, loop.create_future(), admission.cost(chunk) if admission else 0.0)
            for chunk in _chunks(texts, self.max_batch_size, admission)
        ]
        for pending in chunks:
            self._queued += len(pending.texts)
            queue.put_nowait((priority, next(self._arrivals), pending))
        futures = [p.future for p in chunks]
        self._in_flight += 1
        self._in_flight_listings += len(texts)
        self._overlap = 0.9 * self._overlap + 0.1 * self._in_flight
        try:
            async with asyncio.timeout(timeout_s):
                if len(futures) == 1:  # the usual case: one hop less than gather
                    results = [await futures[0]]
                else:
                    results = await asyncio.gather(*futures)
        except TimeoutError as e:
            raise InferenceTimeoutError(
                f"no answer from the model within {timeout_s:g}s ({len(texts)} listings)"
            ) from e
        finally:
            if self._admission is not None:
                self._admission.release(cost)
            self._in_flight -= 1
            self._in_flight_listings -= len(texts)
            for fut in futures:  # a timeout or a failed chunk: the others are not wanted any more
                fut.cancel()
        if len(results) == 1:
            return results[0]
        return Scored(
            np.concatenate([r.proba for r in results]),
            max(r.queue_s for r in results),
            max(r.infer_s for r in results),
            max(r.batch_size for r in results),
        )

    def _batch_limit(self) -> int:
        """This batch's share of the listings in flight, so that parallel calls split them."""
        share = -(-self._in_flight_listings // self._concurrency)
        return max(1, min(self.max_batch_size, share))

    def _companions_expected(self) -> bool:
        """Requests have lately overlapped in time: waiting a little should bring others."""
        return self._overlap > 1.5

    # -- the collector --------------------------------------------------------------------------

    def _take_nowait(self) -> _Pending | None:
        """The next live request already waiting, or None."""
        assert self._queue is not None
        while True:
            if self._carry is not None:
                item, self._carry = self._carry, None
            else:
                try:
                    _, _, item = self._queue.get_nowait()
                except asyncio.QueueEmpty:
                    return None
            if not item.future.done():
                return item
            self._queued -= len(item.texts)  # timed out while waiting

    async def _take(self) -> _Pending:
        assert self._queue is not None
        while True:
            item = self._take_nowait()
            if item is not None:
                return item
            _, _, item = await self._queue.get()
            if not item.future.done():
                return item
            self._queued -= len(item.texts)

    async def _collect(self) -> list[_Pending]:
        first = await self._take()
        batch, size, cost = [first], len(first.texts), first.cost
        deadline = first.enqueued_at + self.max_wait_s
        limit = self._batch_limit()
        max_cost = self._admission.call_cost() if self._admission is not None else None
        while size < limit:
            item = self._take_nowait()
            if item is None:
                remaining = deadline - time.perf_counter()
                if remaining <= 0 or not self._companions_expected():
                    break
                try:
                    item = await asyncio.wait_for(self._take(), remaining)
                except TimeoutError:
                    break
            if size + len(item.texts) > limit or (
                max_cost is not None and cost + item.cost > max_cost
            ):
                self._carry = item  # first in line for the next batch
                break
            batch.append(item)
            size += len(item.texts)
            cost += item.cost
        self._queued -= size
        return batch

    async def _collect_forever(self) -> None:
        assert self._slots is not None
        loop = asyncio.get_running_loop()
        while True:
            await self._slots.acquire()
            try:
                batch = await self._collect()
            except asyncio.CancelledError:
                self._slots.release()
                raise
            except Exception:  # never let the collector die: every later request would hang
                logger.exception("batch collection failed")
                self._slots.release()
                continue
            task = loop.create_task(self._run(batch))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _run(self, batch: list[_Pending]) -> None:
        assert self._slots is not None
        batch = [p for p in batch if not p.future.done()]  # timed out while the batch filled
        if not batch:
            self._slots.release()
            return
        texts = [t for p in batch for t in p.texts]
        started = time.perf_counter()
        try:
            loop = asyncio.get_running_loop()
            proba = _check_rows(
                await loop.run_in_executor(self._executor, self._predict, texts), len(texts)
            )
        except Exception as e:
            error = (
                e
                if isinstance(e, InferenceFailedError)
                else InferenceFailedError(f"inference failed: {e}")
            )
            if not isinstance(e, InferenceFailedError):
                logger.error("model call on %d listings failed", len(texts), exc_info=e)
            for p in batch:
                if not p.future.done():
                    p.future.set_exception(error)
            return
        finally:
            self._slots.release()
        infer_s = time.perf_counter() - started
        if self._on_batch is not None:
            self._on_batch(len(texts), infer_s)
        if self._admission is not None:
            self._admission.observe(self._admission.cost(texts), infer_s)
        offset = 0
        for p in batch:
            n = len(p.texts)
            if not p.future.done():
                p.future.set_result(
                    Scored(proba[offset : offset + n], started - p.enqueued_at, infer_s, len(texts))
                )
            offset += n

    async def close(self) -> None:
        """Stops collecting; waiting requests fail with 503, running model calls finish."""
        self._closed = True
        if self._collector is not None:
            self._collector.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._collector
        while self._queue is not None and (item := self._take_nowait()) is not None:
            item.future.set_exception(UnavailableError("the predictor is shutting down"))
        self._queued = 0
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)
        if self._executor is not None:
            self._executor.shutdown(wait=False)


class DirectRunner:
    """No batching: each request is one model call in a worker thread (at most `concurrency` at
    once); the same overload and timeout answers as the batcher."""

    def __init__(
        self,
        predict: PredictFn,
        *,
        max_queue: int = 2048,
        concurrency: int = 1,
        retry_after_s: int = 1,
        on_batch: BatchObserver | None = None,
        admission: Admission | None = None,
    ) -> None:
        self._predict = predict
        self._admission = admission
        self.max_queue = max_queue
        self.retry_after_s = retry_after_s
        self._on_batch = on_batch
        self._executor = ThreadPoolExecutor(concurrency, thread_name_prefix="prodcat-infer")
        self._queued = 0
        self._closed = False

    @property
    def queued(self) -> int:
        return self._queued

    def _call(self, texts: list[str], enqueued_at: float) -> Scored:
        started = time.perf_counter()
        proba = _check_rows(self._predict(texts), len(texts))
        infer_s = time.perf_counter() - started
        if self._on_batch is not None:
            self._on_batch(len(texts), infer_s)
        return Scored(proba, started - enqueued_at, infer_s, len(texts))

    async def submit(self, texts: Sequence[str], timeout_s: float | None = None) -> Scored:
        if self._closed:
            raise UnavailableError("the predictor is shutting down")
        if not texts:
            return Scored(np.zeros((0, 0), dtype=np.float32), 0.0, 0.0, 0)
        if self._queued + len(texts) > self.max_queue:
            raise OverloadedError(
                f"the predictor is overloaded ({self._queued} listings in flight, limit "
                f"{self.max_queue}); retry in {self.retry_after_s}s",
                self.retry_after_s,
            )
        cost, _ = _admit(self._admission, texts)
        self._queued += len(texts)
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._executor, self._call, list(texts), time.perf_counter())
        try:
            async with asyncio.timeout(timeout_s):
                scored = await future
        except TimeoutError as e:
            future.cancel()  # drops it if it has not started
            raise InferenceTimeoutError(
                f"no answer from the model within {timeout_s:g}s ({len(texts)} listings)"
            ) from e
        except InferenceFailedError:
            raise
        except Exception as e:
            logger.error("model call on %d listings failed", len(texts), exc_info=e)
            raise InferenceFailedError(f"inference failed: {e}") from e
        finally:
            if self._admission is not None:
                self._admission.release(cost)
            self._queued -= len(texts)
        if self._admission is not None:
            self._admission.observe(cost, scored.infer_s)
        return scored

    async def close(self) -> None:
        self._closed = True
        self._executor.shutdown(wait=False, cancel_futures=True)

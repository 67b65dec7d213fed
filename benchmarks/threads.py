"""Benchmark: how to split the machine's cores between concurrent calls of one model, in process.

A server with `c` listings in flight can run them as one call of batch `c`, or as `k` calls of
batch `c / k` at once, each with `cpus / k` intra-op threads. Which is faster depends on the
machine (a batch-1 transformer call leaves most of 16 threads idle) and decides the predictor's
defaults (`PREDICT_INFERENCE_CONCURRENCY`, `PREDICT_THREADS`). Here `k` Python threads share one
loaded model (as the server's calls do), each calling `predict_proba` on its own listings in a
closed loop for --seconds; listings/s and the p99 of a call. Then the bulk case (a file, an
evaluation): one `predict_proba` over --bulk listings, its length-sorted batches of 32 run one at a
time on all the threads, or `cpus` at a time on one thread each (`load_model(parallel_calls=…)`).
Last the batching ceiling: the server's default plan (one call per CPU, one thread each) with
every call at batch 1, 2, 4, 8. What a batch of k gains over k calls of batch 1 here is the most
micro-batching can add to the server's throughput on this machine (listings/s of the best batch
over batch 1). Prints a table; writes benchmarks/results/threads-<family>.json.

    .venv/bin/python benchmarks/threads.py --model ARTIFACT_DIR [--in-flight 8] [--seconds 3]
        [--bulk 1000] [--ceiling-batches 1 2 4 8]
"""

from __future__ import annotations

import argparse
import itertools
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from common import print_table, write_json

from prodcat_core.artifact import read_artifact
from prodcat_core.cpus import available_cpus
from prodcat_core.model import load_model
from prodcat_core.text import listing_text
from prodcat_data.synthetic import generate_listings


def split_points(cpus: int, in_flight: int) -> list[tuple[int, int, int]]:
    """(calls at once, threads per call, batch per call) with calls x batch = in_flight."""
    points = []
    for calls in (1, 2, 4, 8, 16):
        if calls > in_flight or in_flight % calls or calls > cpus:
            continue
        points.append((calls, max(1, cpus // calls), in_flight // calls))
    return points


def measure(
    artifact: Path, texts: list[str], calls: int, threads: int, batch: int, seconds: float
) -> dict[str, Any]:
    model = load_model(artifact, intra_op_threads=threads)
    model.classifier.predict_proba(texts[:batch])  # warm-up
    stop_at = time.perf_counter() + seconds
    times: list[list[float]] = [[] for _ in range(calls)]

    def loop(worker: int) -> None:
        batches = itertools.cycle(
            [texts[i : i + batch] for i in range(worker * 7, len(texts) - batch, batch)]
        )
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            model.classifier.predict_proba(next(batches))
            times[worker].append(time.perf_counter() - started)

    started = time.perf_counter()
    workers = [threading.Thread(target=loop, args=(w,)) for w in range(calls)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - started
    flat = [t for per_worker in times for t in per_worker]
    return {
        "calls_at_once": calls,
        "threads_per_call": threads,
        "batch": batch,
        "listings_per_s": len(flat) * batch / elapsed,
        "p50_call_ms": float(np.percentile(flat, 50)) * 1000,
        "p99_call_ms": float(np.percentile(flat, 99)) * 1000,
    }


def measure_bulk(
    artifact: Path, texts: list[str], calls: int, threads: int, seconds: float
) -> dict[str, Any]:
    model = load_model(artifact, intra_op_threads=threads, parallel_calls=calls)
    model.classifier.predict_proba(texts[:64])  # warm-up
    times: list[float] = []
    stop_at = time.perf_counter() + seconds
    while not times or time.perf_counter() < stop_at:
        started = time.perf_counter()
        model.classifier.predict_proba(texts)
        times.append(time.perf_counter() - started)
    return {
        "in_flight": f"bulk {len(texts)}",
        "calls_at_once": calls,
        "threads_per_call": threads,
        "batch": 32,
        "listings_per_s": len(texts) * len(times) / sum(times),
        "p50_call_ms": float(np.percentile(times, 50)) * 1000,
        "p99_call_ms": float(np.percentile(times, 99)) * 1000,
    }


def batching_ceiling(by_batch: dict[str, float]) -> dict[str, Any]:
    """The best batch's listings/s over batch 1's: the most batching can add on this machine."""
    if "1" not in by_batch or len(by_batch) < 2:
        return {}
    best = max(by_batch, key=lambda b: by_batch[b])
    return {"best_batch": int(best), "gain": by_batch[best] / by_batch["1"], "by_batch": by_batch}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--model", type=Path, required=True, help="an artifact folder")
    parser.add_argument("--in-flight", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--seconds", type=float, default=3.0, help="measured seconds per point")
    parser.add_argument(
        "--bulk", type=int, default=1000, help="listings in the bulk case (0: skip)"
    )
    parser.add_argument(
        "--ceiling-batches", type=int, nargs="*", default=[1, 2, 4, 8],
        help="batches of the batching ceiling, one call per CPU (none: skip)",
    )  # fmt: skip
    args = parser.parse_args()
    cpus = available_cpus()
    family = read_artifact(args.model, verify=False)[0].family
    frame, _ = generate_listings(max(1000, args.bulk), seed=5)
    texts = [
        listing_text(d, None if not isinstance(desc, str) else desc)
        for d, desc in zip(frame["designation"], frame["description"], strict=True)
    ]
    rows = []
    for in_flight in args.in_flight:
        for calls, threads, batch in split_points(cpus, in_flight):
            point = measure(args.model, texts, calls, threads, batch, args.seconds)
            rows.append({"in_flight": in_flight, **point})
            print(
                f"  in flight {in_flight}: {calls} x batch {batch} on {threads} threads: "
                f"{point['listings_per_s']:.0f}/s",
                flush=True,
            )
    if args.bulk:
        for calls, threads in ((1, cpus), (cpus, 1)):
            point = measure_bulk(args.model, texts[: args.bulk], calls, threads, args.seconds)
            rows.append(point)
            print(f"  bulk: {calls} at once on {threads} threads: "
                  f"{point['listings_per_s']:.0f}/s", flush=True)  # fmt: skip
    ceiling: dict[str, Any] = {}
    for batch in args.ceiling_batches:
        point = measure(args.model, texts, cpus, 1, batch, args.seconds)
        rows.append({"in_flight": f"ceiling {cpus * batch}", **point})
        ceiling[str(batch)] = point["listings_per_s"]
        print(f"  ceiling: {cpus} x batch {batch} on 1 thread: "
              f"{point['listings_per_s']:.0f}/s", flush=True)  # fmt: skip
    print_table(
        rows,
        ["in_flight", "calls_at_once", "threads_per_call", "batch", "listings_per_s",
         "p50_call_ms", "p99_call_ms"],
    )  # fmt: skip
    path = write_json(
        f"threads-{family}",
        {
            "model": args.model.name,
            "family": family,
            "cpus": cpus,
            "results": rows,
            "batching_ceiling": batching_ceiling(ceiling),
        },
    )
    if ceiling:
        gain = batching_ceiling(ceiling)
        print(f"\nbatching ceiling: batch {gain['best_batch']} scores {gain['gain']:.2f}x the "
              f"listings/s of batch 1 ({cpus} calls on 1 thread each)")  # fmt: skip
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()

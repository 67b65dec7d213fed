"""Benchmark: the predictor under overload, admission by cost on and off, in one run on 127.0.0.1.

For each server (`prodcat predict serve`, 1 worker, request timeout 2 s so that late answers show
up within a short run):
  capacity   64-listing requests at concurrency 2: the listings per second it answers unloaded;
  unloaded   one-listing requests at concurrency 1: their p99 latency alone;
  c=64/256/1024  closed loops of 64-listing requests: shares of 200, 503 and 504, goodput (listings
             answered 200 per second) against capacity, p99 of the 200s;
  mix        16 clients of 64 long listings (about 2000 characters each, inside every limit) beside
             8 one-listing clients: the one-listing p99 against unloaded, the heavy clients' 503s.
Server memory (RSS) before the load, its peak while loaded, and after.

A client answered 503 waits `--backoff-s` (default 1 s, the server's Retry-After) before its next
request, as a polite client does; every other answer is followed by the next request at once.
All clients run in this one asyncio process (uvloop), which shares the machine's CPUs with the
server: compare the two servers within one run, not absolute figures across machines. Prints a
table and writes benchmarks/results/overload.json.

    .venv/bin/python benchmarks/overload.py [--seconds 5] [--rows 3000] [--model ARTIFACT_DIR]
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import json
import os
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import uvloop
from common import print_table, write_json
from load import encode_requests, read_response
from serve import Listing, bench_env, load_listings, model_arguments, model_for, our_server, running

CONCURRENCY = (64, 256, 1024)
PER_REQUEST = 64
REQUEST_TIMEOUT_S = 2.0
HEAVY_CLIENTS, SMALL_CLIENTS, HEAVY_CHARS = 16, 8, 2000
CLIENT_TIMEOUT_S = 30.0
WARMUP_S = 1.0


@dataclass
class Group:
    """Clients that send the same kind of request."""

    name: str
    clients: int
    requests: list[bytes]
    listings: int  # per request
    statuses: collections.Counter[int] = field(default_factory=collections.Counter)
    latencies: list[float] = field(default_factory=list)  # of the 200s
    failures: int = 0  # connections reset or answers not read in time


async def _client(
    group: Group,
    host: str,
    port: int,
    offset: int,
    stop_at: float,
    window: list[bool],
    backoff: float,
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        for request in itertools.islice(itertools.cycle(group.requests), offset, None):
            if time.perf_counter() >= stop_at:
                return
            started = time.perf_counter()
            try:
                writer.write(request)
                status, _ = await asyncio.wait_for(read_response(reader), CLIENT_TIMEOUT_S)
            except (OSError, RuntimeError, asyncio.IncompleteReadError, TimeoutError):
                if window[0]:
                    group.failures += 1
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
                continue
            if window[0]:
                group.statuses[status] += 1
                if status == 200:
                    group.latencies.append(time.perf_counter() - started)
            if status == 503:
                await asyncio.sleep(backoff)
    finally:
        writer.close()


async def _load(host: str, port: int, groups: list[Group], seconds: float, backoff: float) -> float:
    window = [False]
    stop_at = time.perf_counter() + WARMUP_S + seconds
    clients = [
        _client(g, host, port, i * 37, stop_at, window, backoff)
        for g in groups
        for i in range(g.clients)
    ]

    async def measure() -> float:
        await asyncio.sleep(WARMUP_S)
        window[0] = True
        return time.perf_counter()

    started = asyncio.create_task(measure())
    await asyncio.gather(*clients)
    return time.perf_counter() - await started


class MemoryWatch:
    """The server's RSS, sampled every 0.1 s while loaded."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def rss_mb(self) -> float:
        return float(self.process.memory_info().rss) / 2**20

    def _sample(self) -> None:
        while not self._stop.wait(0.1):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def __enter__(self) -> MemoryWatch:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def run_groups(url: str, groups: list[Group], seconds: float, backoff: float) -> float:
    host, port = url.split("//", 1)[1].split("/", 1)[0].split(":")
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(_load(host, int(port), groups, seconds, backoff))


def bodies(listings: list[Listing], per_request: int, chars: int | None = None) -> list[bytes]:
    out = []
    for start in range(0, len(listings) - per_request + 1, per_request):
        chunk = listings[start : start + per_request]
        items: list[dict[str, str | None]] = []
        for designation, description in chunk:
            text = f"{designation} {description or ''}"
            if chars is not None:
                text = (text * (chars // max(1, len(text)) + 1))[:chars]
                items.append({"text": text})
            else:
                items.append({"designation": designation, "description": description})
        out.append(json.dumps(items[0] if per_request == 1 else items).encode())
    return out


def summary(case: str, group: Group, elapsed: float) -> dict[str, Any]:
    total = sum(group.statuses.values()) + group.failures
    share = {s: group.statuses[s] / total if total else 0.0 for s in (200, 503, 504)}
    other = total - sum(group.statuses[s] for s in (200, 503, 504))
    lat = group.latencies
    return {
        "case": case,
        "clients": f"{group.clients} x {group.listings}",
        "requests": total,
        "ok_share": share[200],
        "refused_503": share[503],
        "late_504": share[504],
        "other": other,
        "goodput_lps": group.statuses[200] * group.listings / elapsed,
        "p99_ms": float(np.percentile(lat, 99)) * 1000 if lat else None,
    }


def measure_server(
    config: str, url: str, pid: int, listings: list[Listing], seconds: float, backoff: float
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    regular = encode_requests(url, bodies(listings, PER_REQUEST))
    singles = encode_requests(url, bodies(listings, 1))
    huge = encode_requests(url, bodies(listings, PER_REQUEST, HEAVY_CHARS))
    rows: list[dict[str, Any]] = []
    with MemoryWatch(pid) as memory:
        memory_before = memory.rss_mb()
        capacity_group = Group("capacity", 2, regular, PER_REQUEST)
        elapsed = run_groups(url, [capacity_group], seconds, backoff)
        capacity = summary(f"{config} capacity", capacity_group, elapsed)
        rows.append(capacity)
        unloaded_group = Group("unloaded", 1, singles, 1)
        elapsed = run_groups(url, [unloaded_group], seconds, backoff)
        unloaded = summary(f"{config} unloaded", unloaded_group, elapsed)
        rows.append(unloaded)
        for concurrency in CONCURRENCY:
            group = Group(f"c={concurrency}", concurrency, regular, PER_REQUEST)
            elapsed = run_groups(url, [group], seconds, backoff)
            rows.append(summary(f"{config} c={concurrency}", group, elapsed))
            print(f"  {config} c={concurrency}: {rows[-1]['ok_share']:.0%} ok", file=sys.stderr)
        heavy = Group("mix heavy", HEAVY_CLIENTS, huge, PER_REQUEST)
        small = Group("mix one-listing", SMALL_CLIENTS, singles, 1)
        elapsed = run_groups(url, [heavy, small], seconds, backoff)
        rows.append(summary(f"{config} mix heavy", heavy, elapsed))
        rows.append(summary(f"{config} mix one-listing", small, elapsed))
        memory_after = memory.rss_mb()
    for row in rows:
        row["goodput_vs_capacity"] = row["goodput_lps"] / capacity["goodput_lps"]
    rows[-1]["p99_vs_unloaded"] = (
        rows[-1]["p99_ms"] / unloaded["p99_ms"]
        if rows[-1]["p99_ms"] and unloaded["p99_ms"]
        else None
    )
    return rows, {
        "config": config,
        "rss_before_mb": memory_before,
        "rss_peak_mb": memory.peak / 2**20,
        "rss_after_mb": memory_after,
    }


def target_checks(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    on = {
        r["case"].removeprefix("admission on "): r
        for r in rows
        if r["case"].startswith("admission on")
    }
    checks = []
    for concurrency in CONCURRENCY:
        row = on[f"c={concurrency}"]
        checks.append(
            {
                "target": f"goodput at c={concurrency} >= 80% of capacity",
                "measured": row["goodput_vs_capacity"],
                "met": row["goodput_vs_capacity"] >= 0.8,
            }
        )
        checks.append(
            {
                "target": f"no 504 at c={concurrency}",
                "measured": row["late_504"],
                "met": row["late_504"] == 0,
            }
        )
    mix, heavy = on["mix one-listing"], on["mix heavy"]
    checks.append(
        {
            "target": "mix: one-listing p99 <= 2x unloaded",
            "measured": mix["p99_vs_unloaded"],
            "met": mix["p99_vs_unloaded"] is not None and mix["p99_vs_unloaded"] <= 2.0,
        }
    )
    checks.append(
        {
            "target": "mix: heavy clients refused (503)",
            "measured": heavy["refused_503"],
            "met": heavy["refused_503"] > 0,
        }
    )
    return checks


def main() -> None:
    parser = model_arguments(__doc__, 5.0)
    parser.add_argument(
        "--backoff-s", type=float, default=1.0, help="a client's wait after a 503 (Retry-After: 1)"
    )
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    rows: list[dict[str, Any]] = []
    memory: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-overload-") as tmp:
        work = Path(tmp)
        env = bench_env(work)
        artifact, _ = model_for(args, work, env)
        listings = load_listings(work, limit=1024)
        for admission in (True, False):
            config = f"admission {'on' if admission else 'off'}"
            settings = {
                "PREDICT_ADMISSION": str(admission).lower(),
                "PREDICT_REQUEST_TIMEOUT_S": str(REQUEST_TIMEOUT_S),
                "PREDICT_MAX_QUEUE": "2048",
            }
            cmd, server_env, ready, url, _ = our_server(artifact, env, True, settings)
            with running(cmd, server_env, ready, work / f"{config}.log") as proc:
                points, rss = measure_server(
                    config, url, proc.pid, listings, args.seconds, args.backoff_s
                )
            rows += points
            memory.append(rss)
    columns = [
        "case", "clients", "requests", "ok_share", "refused_503", "late_504", "other",
        "goodput_lps", "goodput_vs_capacity", "p99_ms", "p99_vs_unloaded",
    ]  # fmt: skip
    print_table(rows, columns)
    print()
    print_table(memory, ["config", "rss_before_mb", "rss_peak_mb", "rss_after_mb"])
    checks = target_checks(rows)
    print()
    print_table(checks, ["target", "measured", "met"])
    path = write_json(
        "overload",
        {
            "seconds_per_point": args.seconds,
            "train_rows": None if args.model else args.rows,
            "request_timeout_s": REQUEST_TIMEOUT_S,
            "backoff_after_503_s": args.backoff_s,
            "server": "1 worker, batching on, defaults otherwise; admission on vs off",
            "targets": checks,
            "memory": memory,
            # Other work on the machine skews every number; compare the servers within one run.
            "load_average_1min": {"before": load_before, "after": os.getloadavg()[0]},
            "results": rows,
        },
    )
    print(
        f"\nwrote {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path.name}"
    )


if __name__ == "__main__":
    main()

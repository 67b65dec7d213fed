"""Benchmark: what the inference log costs the predictor, in one run on 127.0.0.1.

The same server (`prodcat predict serve`, 1 worker, defaults) with the log off and on (every
listing recorded, text kept), in pairs (off-on, then on-off, … `--repeats` pairs), at concurrency
8 (one listing per request, closed loop, benchmarks/load.py): req/s, p99, and the server's CPU
time per request (its process's user + system time over the point / requests). Ratios are medians
over the pairs. On a 2-core machine shared with other work one point's req/s swings by half
between identical servers, and CPU per request by a quarter, so the run also times, in process,
the log's own work per listing: the request path's `record` (the record, the queue append) and
the writer thread's (columns, sha256, Parquet file), against the server's CPU per request with the
log off. Target (issue #12): throughput with the log on at most 5 % lower than off. Prints a
table; writes benchmarks/results/inference-log.json.

    .venv/bin/python benchmarks/inference_log.py [--seconds 6] [--repeats 4] [--rows 3000]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
import pyarrow.parquet as pq
from common import print_table, work_env, write_json
from load import WARMUP_S, closed_loop
from serve import BIN, build_model, load_listings, our_server, product_body, running

CONCURRENCY = 8
TARGET_MAX_LOSS = 0.05


def in_process_costs(records: int = 20_000) -> dict[str, float]:
    """Microseconds per listing: the request path's `record`, and the writer's file writing."""
    from prometheus_client import CollectorRegistry

    from prodcat_core.inference_log import ModelIdentity
    from prodcat_predict.config import PredictSettings
    from prodcat_predict.inference_recorder import InferenceRecorder
    from prodcat_predict.metrics import PredictorMetrics
    from prodcat_predict.pipeline import ClassScore, Prediction

    model = ModelIdentity("prodcat", "m-0123456789ab", "champion", "m-0123456789ab")
    top = [ClassScore(2583, "piscine", 0.9), ClassScore(2582, "jardin", 0.05)]
    answer = [Prediction(2583, "piscine", 0.9, top, False, "0" * 32)]
    text = ["Piscine tubulaire ronde 3,05 m\nStructure acier, filtre à cartouche inclus."]
    with tempfile.TemporaryDirectory(prefix="bench-log-") as folder:
        settings = PredictSettings(
            inference_log_uri=folder,
            inference_log_queue=records,
            inference_log_rotate_seconds=3600,  # the thread writes nothing while `record` runs
        )
        recorder = InferenceRecorder.from_settings(settings, PredictorMetrics(CollectorRegistry()))
        assert recorder is not None
        started = time.perf_counter()
        for i in range(records):
            recorder.record(
                model=model,
                request_id=str(i),
                texts=text,
                answers=answer,
                listing_ids=["0" * 32],
                latency_ms=2.0,
            )
        record_us = (time.perf_counter() - started) * 1e6 / records
        started = time.perf_counter()
        recorder.close()  # writes every queued record, in the writer thread
        write_us = (time.perf_counter() - started) * 1e6 / records
    return {"record_us": record_us, "write_us": write_us}


def server_cpu_seconds() -> float:
    """CPU time used so far by this script's child processes (the server under test)."""
    total = 0.0
    for child in psutil.Process().children(recursive=True):
        try:
            times = child.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def log_dropped(metrics_url: str) -> float:
    """Records the log dropped so far (every reason)."""
    text = httpx.get(metrics_url, timeout=10.0).text
    found = re.findall(
        r"^prodcat_predictor_inference_log_dropped_total\{[^}]*\} (\S+)$", text, re.M
    )
    return sum(float(v) for v in found)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds per point")
    parser.add_argument("--repeats", type=int, default=4, help="off/on pairs, interleaved")
    parser.add_argument("--rows", type=int, default=3000, help="synthetic rows to train on")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-inference-log-") as tmp:
        work = Path(tmp)
        env = work_env(work, BIN)
        print("building the model…", file=sys.stderr)
        artifact, _ = build_model(work, args.rows, env)
        bodies = [json.dumps(product_body(listing)).encode() for listing in load_listings(work)]
        rows: list[dict[str, Any]] = []
        for repeat in range(args.repeats):
            for log_on in (False, True) if repeat % 2 == 0 else (True, False):
                settings = {"PREDICT_INFERENCE_LOG_URI": str(work / "log")} if log_on else {}
                cmd, server_env, ready, url, metrics = our_server(artifact, env, True, settings)
                log = work / f"server-{repeat}-{log_on}.log"
                with running(cmd, server_env, ready, log):
                    cpu_before = server_cpu_seconds()
                    point = closed_loop(url, bodies, CONCURRENCY, args.seconds)
                    cpu = server_cpu_seconds() - cpu_before
                    dropped = log_dropped(metrics) if log_on else None
                # The loop's warm-up runs at the measured rate too: requests ~ rate x duration.
                requests = point["req_per_s"] * (WARMUP_S + args.seconds)
                point["server_cpu_ms_per_req"] = cpu * 1000.0 / requests if requests else None
                rows.append(
                    {
                        "log": "on" if log_on else "off",
                        "repeat": repeat,
                        "dropped": dropped,
                        **point,
                    }
                )
                print(f"  log {rows[-1]['log']}: {point['req_per_s']:.0f} req/s", file=sys.stderr)
        written = sum(pq.read_metadata(p).num_rows for p in (work / "log").rglob("part-*.parquet"))

    def pair_ratios(key: str) -> list[float]:
        by = {(r["repeat"], r["log"]): r[key] for r in rows}
        return [by[(i, "on")] / by[(i, "off")] for i in range(args.repeats)]

    costs = in_process_costs()
    off_cpu_us = 1000.0 * statistics.median(
        r["server_cpu_ms_per_req"] for r in rows if r["log"] == "off"
    )
    share = (costs["record_us"] + costs["write_us"]) / off_cpu_us
    throughput = statistics.median(pair_ratios("req_per_s"))
    cpu = statistics.median(pair_ratios("server_cpu_ms_per_req"))
    p99 = statistics.median(pair_ratios("p99_ms"))
    checks = [
        {
            "check": "throughput lost with the log on, c=8 (req/s, median of pairs)",
            "value": round(1.0 - throughput, 4),
            "target": f"<= {TARGET_MAX_LOSS}",
            "met": 1.0 - throughput <= TARGET_MAX_LOSS,
        },
        {
            "check": "server CPU per request, on / off (median of pairs)",
            "value": round(cpu, 4),
            "target": f"<= {1 / (1 - TARGET_MAX_LOSS):.4f}",
            "met": cpu <= 1 / (1 - TARGET_MAX_LOSS),
        },
        {
            "check": "log work per listing (record + write, in process) / server CPU per request",
            "value": round(share, 4),
            "target": f"<= {TARGET_MAX_LOSS}",
            "met": share <= TARGET_MAX_LOSS,
        },
        {
            "check": "p99 on / off, c=8 (median of pairs)",
            "value": round(p99, 3),
            "target": "reported",
            "met": None,
        },
    ]
    columns = ["log", "repeat", "req_per_s", "p50_ms", "p99_ms", "server_cpu_ms_per_req"]
    print_table(rows, [*columns, "errors", "dropped"])
    print(f"log rows written (all 'on' servers, at shutdown): {written:,}")
    print(
        f"in process, per listing: record {costs['record_us']:.1f} us (request path), "
        f"write {costs['write_us']:.1f} us (writer thread); server CPU per request with the "
        f"log off {off_cpu_us:.0f} us"
    )
    print()
    print_table(checks, ["check", "value", "target", "met"])
    path = write_json(
        "inference-log",
        {
            "command": "benchmarks/inference_log.py " + " ".join(sys.argv[1:]),
            "concurrency": CONCURRENCY,
            "seconds_per_point": args.seconds,
            "load_before": load_before,
            "log_rows_written": written,
            "in_process_us_per_listing": costs,
            "rows": rows,
            "checks": checks,
        },
    )
    print(f"\nwrote {path.name} in benchmarks/results/")


if __name__ == "__main__":
    main()

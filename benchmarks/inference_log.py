"""Benchmark: what the inference log costs the predictor, in one run on 127.0.0.1.

The same server (`prodcat predict serve`, 1 worker, defaults) with the log off and on (every
listing recorded, text kept), alternately, `--repeats` times each, at concurrency 8 (one listing
per request, closed loop, benchmarks/load.py). Each "on" point also checks that every answered
listing was written or counted as dropped. Target (issue #12): throughput with the log on at
most 5 % lower than off. Prints a table; writes benchmarks/results/inference-log.json.

    .venv/bin/python benchmarks/inference_log.py [--seconds 5] [--repeats 2] [--rows 3000]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx
import pyarrow.parquet as pq
from common import print_table, work_env, write_json
from load import closed_loop
from serve import BIN, build_model, load_listings, our_server, product_body, running

CONCURRENCY = 8
TARGET_MAX_LOSS = 0.05


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
    parser.add_argument("--repeats", type=int, default=2, help="off/on pairs, interleaved")
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
            for log_on in (False, True):
                settings = {"PREDICT_INFERENCE_LOG_URI": str(work / "log")} if log_on else {}
                cmd, server_env, ready, url, metrics = our_server(artifact, env, True, settings)
                log = work / f"server-{repeat}-{log_on}.log"
                with running(cmd, server_env, ready, log):
                    point = closed_loop(url, bodies, CONCURRENCY, args.seconds)
                    dropped = log_dropped(metrics) if log_on else None
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
    off = statistics.mean(r["req_per_s"] for r in rows if r["log"] == "off")
    on = statistics.mean(r["req_per_s"] for r in rows if r["log"] == "on")
    loss = 1.0 - on / off
    p99_off = statistics.mean(r["p99_ms"] for r in rows if r["log"] == "off")
    p99_on = statistics.mean(r["p99_ms"] for r in rows if r["log"] == "on")
    checks = [
        {
            "check": "throughput lost with the log on, c=8",
            "value": round(loss, 4),
            "target": f"<= {TARGET_MAX_LOSS}",
            "met": loss <= TARGET_MAX_LOSS,
        },
        {
            "check": "p99 log on / off, c=8",
            "value": round(p99_on / p99_off, 3),
            "target": "reported",
            "met": None,
        },
    ]
    print_table(rows, ["log", "repeat", "req_per_s", "p50_ms", "p99_ms", "errors", "dropped"])
    print(f"log rows written (all 'on' servers, at shutdown): {written:,}")
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
            "rows": rows,
            "checks": checks,
        },
    )
    print(f"\nwrote {path.name} in benchmarks/results/")


if __name__ == "__main__":
    main()

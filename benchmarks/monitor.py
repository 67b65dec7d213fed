"""Benchmark: `prodcat monitor` over a day of inference log: 1,000,000 logged listings.

A small linear model is trained on synthetic rows; 20,000 other synthetic listings are answered
by it; the log is 1,000,000 draws of those answers spread over 24 hours, in files of one minute
each (the predictor's default rotation: 1,440 files), with a feedback label for one row in ten.
Then `prodcat monitor` runs as a process over the whole day, as the CronJob runs it: wall time
and peak RSS (the process tree's, sampled every 20 ms). Targets (issue #12, 2-core machine):
< 60 s and < 2 GB. Prints a table; writes benchmarks/results/monitor.json.

    .venv/bin/python benchmarks/monitor.py [--rows 1000000] [--files-per-hour 60]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import pyarrow as pa
import pyarrow.parquet as pq
from common import print_table, work_env, write_json
from serve import BIN, build_model

from prodcat_core.feedback import FeedbackLabel, append_feedback
from prodcat_core.inference_log import InferenceRecord, ModelIdentity, records_table
from prodcat_core.model import load_model
from prodcat_core.text import listing_text
from prodcat_data.synthetic import generate_listings

DISTINCT = 20_000
TARGET_SECONDS = 60.0
TARGET_GB = 2.0


def answered_base(artifact: Path) -> tuple[pa.Table, np.ndarray]:
    """DISTINCT listings answered by the model: log rows (one per listing) and true codes."""
    x, y = generate_listings(DISTINCT, seed=11)
    texts = [listing_text(d, s) for d, s in zip(x["designation"], x["description"], strict=True)]
    loaded = load_model(artifact)
    proba = np.concatenate(
        [loaded.classifier.predict_proba(texts[i : i + 2048]) for i in range(0, len(texts), 2048)]
    )
    top = np.argsort(-proba, axis=1)[:, :3]
    codes = np.asarray(loaded.codec.codes)
    model = ModelIdentity("prodcat", loaded.metadata.model_id, None, loaded.metadata.model_id)
    now = datetime.now(UTC)
    records = [
        InferenceRecord(
            ts=now,
            request_id="r",
            listing_id="l",
            model=model,
            text=text,
            truncated=False,
            prdtypecode=int(codes[top[i, 0]]),
            confidence=float(proba[i, top[i, 0]]),
            topk_codes=tuple(int(c) for c in codes[top[i]]),
            topk_probs=tuple(float(p) for p in proba[i, top[i]]),
            latency_ms=2.0,
        )
        for i, text in enumerate(texts)
    ]
    return records_table(records, keep_text=True), y["prdtypecode"].to_numpy()


def write_day(
    base: pa.Table, rows: int, files_per_hour: int, log: Path, start: datetime
) -> tuple[np.ndarray, list[str]]:
    """`rows` draws of the base over 24 hours, hour-partitioned, in files_per_hour files each;
    returns the drawn base row and the listing id of each log row (in log order)."""
    rng = np.random.default_rng(5)
    draws = rng.integers(0, base.num_rows, rows)
    offsets_us = np.sort(rng.integers(0, 24 * 3600 * 10**6, rows))
    ts = np.datetime64(start.replace(tzinfo=None), "us") + offsets_us.astype("timedelta64[us]")
    raw = os.urandom(16 * rows).hex()
    ids = [raw[32 * i : 32 * (i + 1)] for i in range(rows)]
    table = base.take(pa.array(draws))
    table = table.set_column(0, "ts", pa.array(ts, pa.timestamp("us", tz="UTC")))
    table = table.set_column(
        table.schema.get_field_index("listing_id"), "listing_id", pa.array(ids, pa.string())
    )
    slot_us = 3600 * 10**6 // files_per_hour
    slots = offsets_us // slot_us
    bounds = np.flatnonzero(np.diff(slots)) + 1
    for seq, (lo, hi) in enumerate(zip([0, *bounds], [*bounds, rows], strict=True)):
        hour = start + timedelta(microseconds=int(offsets_us[lo]))
        folder = log / hour.strftime("%Y-%m-%d/%H")
        folder.mkdir(parents=True, exist_ok=True)
        pq.write_table(table.slice(lo, hi - lo), folder / f"part-bench-{seq:06d}.parquet")
    return draws, ids


def measure(cmd: list[str], env: dict[str, str], cwd: Path) -> dict[str, Any]:
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    peak = 0
    watched = psutil.Process(proc.pid)
    while proc.poll() is None:
        try:
            tree = [watched, *watched.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree))
        except psutil.Error:
            pass
        time.sleep(0.02)
    seconds = time.perf_counter() - started
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"prodcat monitor exited {proc.returncode}:\n{err.decode()[-3000:]}")
    return {"seconds": seconds, "peak_rss_gb": peak / 2**30, "stdout": out.decode()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=1_000_000, help="logged listings")
    parser.add_argument("--files-per-hour", type=int, default=60, help="log files per hour")
    parser.add_argument("--train-rows", type=int, default=3000, help="synthetic rows to train on")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-monitor-") as tmp:
        work = Path(tmp)
        env = work_env(work, BIN)
        print("building the model…", file=sys.stderr)
        artifact, _ = build_model(work, args.train_rows, env)
        print("answering the base listings…", file=sys.stderr)
        base, truth = answered_base(artifact)
        start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=2)
        print(f"writing {args.rows:,} log rows…", file=sys.stderr)
        draws, ids = write_day(base, args.rows, args.files_per_hour, work / "log", start)
        labelled = np.arange(0, args.rows, 10)
        append_feedback(
            work / "feedback",
            [FeedbackLabel(listing_id=ids[i], prdtypecode=int(truth[draws[i]])) for i in labelled],
            "import",
        )
        files = sum(1 for _ in (work / "log").rglob("part-*.parquet"))
        print(f"running prodcat monitor over {files:,} files…", file=sys.stderr)
        result = measure(
            [
                str(BIN / "prodcat"), "monitor", "--model", str(artifact),
                "--start", start.isoformat(), "--end", (start + timedelta(days=1)).isoformat(),
                "--log-uri", str(work / "log"), "--feedback-dir", str(work / "feedback"),
                "--output-dir", str(work / "monitoring"),
            ],
            env,
            work,
        )  # fmt: skip
        report = json.loads((work / "monitoring" / "latest.json").read_text(encoding="utf-8"))
    records = report["window"]["records"]
    rows = [
        {
            "case": f"prodcat monitor, {records:,} rows, {files:,} files, {labelled.size:,} labels",
            "seconds": result["seconds"],
            "peak_rss_gb": result["peak_rss_gb"],
            "status": report["status"],
        }
    ]
    checks = [
        {
            "check": "wall time (s)",
            "value": round(result["seconds"], 2),
            "target": f"< {TARGET_SECONDS:g}",
            "met": result["seconds"] < TARGET_SECONDS,
        },
        {
            "check": "peak RSS (GB)",
            "value": round(result["peak_rss_gb"], 3),
            "target": f"< {TARGET_GB:g}",
            "met": result["peak_rss_gb"] < TARGET_GB,
        },
        {
            "check": "every row read",
            "value": records,
            "target": f"== {args.rows:,}",
            "met": records == args.rows,
        },
    ]
    print(result["stdout"])
    print_table(rows, ["case", "seconds", "peak_rss_gb", "status"])
    print()
    print_table(checks, ["check", "value", "target", "met"])
    path = write_json(
        "monitor",
        {
            "command": "benchmarks/monitor.py " + " ".join(sys.argv[1:]),
            "load_before": load_before,
            "rows": rows,
            "checks": checks,
            "feedback_weighted_f1": report["metrics"]["feedback_weighted_f1"],
        },
    )
    print(f"\nwrote {path.name} in benchmarks/results/")


if __name__ == "__main__":
    main()

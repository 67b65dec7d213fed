"""Benchmark: what the data API's model-health routes cost, in one run on 127.0.0.1.

`POST /feedback` with a batch of labels by listing id, with the inference log unset (ids taken as
given) and set to a log of N logged listings (every id looked up in the log's `listing_id` column
over `DATA_FEEDBACK_LOOKBACK_DAYS`; the API reads each file once, so the first request, the max,
pays for reading them all), and `POST /alerts/alertmanager` answering a resolved group
(the webhook's own cost). Median and worst of `--requests` calls each; the
log is generated (hour-partitioned Parquet files in the inference log's layout). Prints a table;
writes benchmarks/results/feedback.json.

    .venv/bin/python benchmarks/feedback.py [--rows 100000 1000000] [--batch 100] [--requests 7]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from common import print_table, write_json

from prodcat_core.inference_log import INFERENCE_LOG_SCHEMA
from prodcat_data.api.app import create_app
from prodcat_data.api.server import serve_in_thread
from prodcat_data.config import DataSettings

FILES = 24  # one file per hour of the last day


def write_log(root: Path, rows: int, seed: int = 0) -> list[str]:
    """`rows` logged listings over the last 24 hours; returns their listing ids."""
    rng = np.random.default_rng(seed)
    ids = [uuid.UUID(int=int(x)).hex for x in rng.integers(0, 2**63, rows)]
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    per_file = -(-rows // FILES)
    for i in range(FILES):
        chunk = ids[i * per_file : (i + 1) * per_file]
        if not chunk:
            break
        hour = now - timedelta(hours=FILES - 1 - i)
        n = len(chunk)
        codes = rng.choice([10, 2583, 1560, 2705], n).astype(np.int32)
        table = pa.table(
            {
                "ts": pa.array([hour] * n, pa.timestamp("us", tz="UTC")),
                "request_id": pa.array(chunk, pa.string()),
                "listing_id": pa.array(chunk, pa.string()),
                "model_name": pa.array(["prodcat"] * n, pa.string()),
                "model_version": pa.array(["1"] * n, pa.string()),
                "model_alias": pa.array(["champion"] * n, pa.string()),
                "model_id": pa.array(["m-0123456789ab"] * n, pa.string()),
                "source": pa.array(["predictor"] * n, pa.string()),
                "text": pa.array([None] * n, pa.string()),
                "text_sha256": pa.array(["0" * 64] * n, pa.string()),
                "text_chars": pa.array(np.full(n, 40, np.int32)),
                "description_empty": pa.array(np.zeros(n, bool)),
                "truncated": pa.array(np.zeros(n, bool)),
                "prdtypecode": pa.array(codes),
                "confidence": pa.array(rng.random(n, np.float32)),
                "topk_codes": pa.array([[int(c)] for c in codes], pa.list_(pa.int32())),
                "topk_probs": pa.array([[0.9]] * n, pa.list_(pa.float32())),
                "latency_ms": pa.array(np.full(n, 3.0, np.float32)),
            },
            schema=INFERENCE_LOG_SCHEMA,
        )
        folder = root / hour.strftime("%Y-%m-%d") / hour.strftime("%H")
        folder.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, folder / f"part-bench-{i:04d}.parquet")
    return ids


def timed(call: Callable[[], httpx.Response], requests: int, expect: int) -> dict[str, float]:
    seconds = []
    for _ in range(requests):
        started = time.perf_counter()
        answer = call()
        seconds.append(time.perf_counter() - started)
        assert answer.status_code == expect, answer.text
    return {"median_ms": statistics.median(seconds) * 1000, "max_ms": max(seconds) * 1000}


def settings(root: Path, log: Path | None) -> DataSettings:
    return DataSettings.model_validate(
        {
            "datasets_dir": root / "data" / "datasets",
            "prepared_dir": root / "data" / "prepared",
            "runs_dir": root / "data" / "runs",
            "feedback_dir": root / "data" / "feedback",
            "monitoring_dir": root / "monitoring",
            "tracking_uri": f"sqlite:///{root / 'mlruns.db'}",
            "inference_log_uri": str(log) if log else None,
            "retrain_on_alert": True,
        }
    )


def alert(group: str) -> dict[str, Any]:
    labels = {"alertname": group, "action": "retrain"}
    return {
        "version": "4",
        "groupKey": f'{{}}:{{alertname="{group}"}}',
        "status": "firing",
        "receiver": "prodcat-retrain",
        "groupLabels": labels,
        "commonLabels": labels,
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": [{"status": "firing", "labels": labels, "startsAt": "2026-01-05T10:00:00Z"}],
    }


def measure(rows: int | None, batch: int, requests: int) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="prodcat-bench-feedback-") as work:
        root = Path(work)
        log = root / "inference-log" if rows else None
        ids = write_log(log, rows) if log is not None and rows else [uuid.uuid4().hex]
        rng = np.random.default_rng(1)
        app = create_app(settings(root, log))
        out = []
        with serve_in_thread(app) as url, httpx.Client(base_url=url, timeout=120) as http:

            def post_feedback() -> httpx.Response:
                chosen = rng.choice(len(ids), batch)
                body = [{"listing_id": ids[i], "prdtypecode": 2583} for i in chosen]
                return http.post("/feedback", json=body)

            case = (
                f"POST /feedback ({batch} ids), log of {rows:,}"
                if rows
                else (f"POST /feedback ({batch} ids), no log check")
            )
            out.append({"case": case, "rows": rows or 0, **timed(post_feedback, requests, 201)})
            if not rows:
                # The webhook's own cost (parse, check the token, answer) without starting a run.
                resolved = alert("ProdcatModelDrift") | {"status": "resolved"}
                resolved["alerts"] = [resolved["alerts"][0] | {"status": "resolved"}]
                out.append(
                    {
                        "case": "POST /alerts/alertmanager (resolved group)",
                        "rows": 0,
                        **timed(
                            lambda: http.post("/alerts/alertmanager", json=resolved), requests, 200
                        ),
                    }
                )
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--requests", type=int, default=7)
    args = parser.parse_args(argv)
    results = measure(None, args.batch, args.requests)
    for rows in args.rows:
        results += measure(rows, args.batch, args.requests)
    print_table(results, ["case", "rows", "median_ms", "max_ms"])
    path = write_json(
        "feedback", {"batch": args.batch, "requests": args.requests, "results": results}
    )
    print(f"\nwrote benchmarks/results/{path.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

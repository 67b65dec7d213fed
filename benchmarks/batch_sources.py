"""Benchmark: what the batch's inference log and an s3:// input cost, in one run.

`prodcat predict batch` over the same folder of generated listings, 2 shard processes side by
side (wall time from start to the last part, model loading included), four ways, alternated
--repeats times: local input; local input with --inference-log (a local folder); the same files
under s3:// on a local S3 server (moto's, on 127.0.0.1); s3:// with --inference-log. Reports
listings/s and each way's time relative to the local one (median over the repeats). Needs the
dev dependency moto[server]. Prints a table; writes benchmarks/results/batch-sources.json.

    .venv/bin/python benchmarks/batch_sources.py [--linear DIR] [--rows 20000] [--repeats 2]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
from pathlib import Path
from typing import Any

import pyarrow.fs as pafs
from batch import shards_wall, train_linear, write_listings
from common import print_table, write_json
from moto.moto_server.threaded_moto_server import ThreadedMotoServer

S3_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}


def upload(folder: Path, endpoint: str, bucket: str) -> None:
    fs = pafs.S3FileSystem(
        access_key="bench",
        secret_key="bench",
        region="us-east-1",
        endpoint_override=endpoint,
        scheme="http",
        allow_bucket_creation=True,
    )
    fs.create_dir(bucket)
    for path in sorted(folder.iterdir()):
        with fs.open_output_stream(f"{bucket}/listings/{path.name}") as stream:
            stream.write(path.read_bytes())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--linear", type=Path, help="linear artifact (default: train one)")
    parser.add_argument("--train-rows", type=int, default=20_000)
    parser.add_argument("--rows", type=int, default=20_000, help="listings scored per run")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per S3 request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    s3_env = {**S3_CREDENTIALS, "PREDICT_S3_ENDPOINT_URL": f"http://{host}:{port}"}
    times: dict[str, list[float]] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="bench-batch-sources-") as tmp:
            work = Path(tmp)
            linear = args.linear.resolve() if args.linear else train_linear(work, args.train_rows)
            src = work / "listings"
            write_listings(src, args.rows)
            upload(src, f"{host}:{port}", "bench")
            ways: dict[str, tuple[Path | str, bool]] = {
                "local": (src, False),
                "local + inference log": (src, True),
                "s3://": ("s3://bench/listings", False),
                "s3:// + inference log": ("s3://bench/listings", True),
            }
            for repeat in range(args.repeats):
                for i, (way, (source, log)) in enumerate(ways.items()):
                    out = work / f"out-{repeat}-{i}"
                    extra = ("--inference-log", str(work / f"log-{repeat}-{i}")) if log else ()
                    seconds = shards_wall(linear, source, out, 2, *extra, env_extra=s3_env)
                    times.setdefault(way, []).append(seconds)
    finally:
        server.stop()
    base = statistics.median(times["local"])
    rows: list[dict[str, Any]] = [
        {
            "input": way,
            "seconds": statistics.median(t),
            "listings_per_s": args.rows / statistics.median(t),
            "relative_time": statistics.median(t) / base,
        }
        for way, t in times.items()
    ]
    print_table(rows, ["input", "seconds", "listings_per_s", "relative_time"])
    path = write_json(
        "batch-sources",
        {"rows_scored": args.rows, "processes": 2, "repeats": args.repeats, "runs": rows},
    )
    print(f"\nwrote {path.name}")


if __name__ == "__main__":
    main()

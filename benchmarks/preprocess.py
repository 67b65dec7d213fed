"""Benchmark: rows/s and peak memory of import + preprocessing.

Cases: 85,000 generated rows (the size of the challenge's training file) and the real rows in
../shared/data/rakuten-sample when present. Each case runs in a fresh child process so its peak
RSS is its own (interpreter and libraries included). Prints a table; writes
benchmarks/results/preprocess.json.

    .venv/bin/python benchmarks/preprocess.py [--rows 85000]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import REAL_SAMPLE, print_table, write_json

TARGET_SECONDS = 30.0
TARGET_PEAK_MB = 1536.0


def _child(x: str, y: str, workdir: str) -> None:
    """Runs in the child: import then preprocess, report timings and own peak RSS as JSON."""
    from prodcat_core.datasets import SplitParams
    from prodcat_data.config import DataSettings
    from prodcat_data.importer import import_dataset
    from prodcat_data.preprocess import preprocess_dataset

    settings = DataSettings(
        datasets_dir=Path(workdir) / "datasets", prepared_dir=Path(workdir) / "prepared"
    )
    t0 = time.perf_counter()
    imported = import_dataset(x, y, settings)
    t1 = time.perf_counter()
    prepared = preprocess_dataset(imported.dataset_id, SplitParams(), settings)
    t2 = time.perf_counter()
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "rows": imported.manifest.n_rows,
                "rows_kept": sum(prepared.manifest.split_counts.values()),
                "import_s": t1 - t0,
                "preprocess_s": t2 - t1,
                "peak_mb": peak_kb / 1024,
            }
        )
    )


def run_case(name: str, x: Path, y: Path) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-preprocess-") as workdir:
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(x), str(y), workdir],
            capture_output=True,
            text=True,
            check=True,
        )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    total = result["import_s"] + result["preprocess_s"]
    return {
        "case": name,
        **result,
        "total_s": total,
        "rows_per_s": result["rows"] / total,
        "meets_30s": total < TARGET_SECONDS,
        "meets_1.5GB": result["peak_mb"] < TARGET_PEAK_MB,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=85_000)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(*args.child)
        return

    from prodcat_data.synthetic import write_challenge_files

    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-raw-") as raw:
        x, y = write_challenge_files(Path(raw), args.rows, seed=42)
        rows.append(run_case(f"synthetic {args.rows:,}", x, y))
    if (REAL_SAMPLE / "X_train_sample.csv").is_file():
        rows.append(
            run_case(
                "real sample (../shared)",
                REAL_SAMPLE / "X_train_sample.csv",
                REAL_SAMPLE / "Y_train_sample.csv",
            )
        )
    else:
        print(f"skipped the real sample: {REAL_SAMPLE} is absent")
    columns = [
        "case", "rows", "rows_kept", "import_s", "preprocess_s", "total_s", "rows_per_s",
        "peak_mb", "meets_30s", "meets_1.5GB",
    ]  # fmt: skip
    print_table(rows, columns)
    path = write_json(
        "preprocess",
        {"targets": {"seconds": TARGET_SECONDS, "peak_mb": TARGET_PEAK_MB}, "cases": rows},
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()

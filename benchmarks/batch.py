"""Benchmark: batch scoring, in one run.

  (a) per core: listings/s of one process scoring with one thread, at batch 1 and 32, for the
      linear family before the fast path (prodcat_core.linear_model.ReferenceLinearScorer, the
      code it replaced) and after it (cold: a freshly loaded model on texts it has not seen;
      warm: the same texts again), and for the transformer family (ONNX Runtime, one thread;
      the linear speed-up does not touch it, so before = after); the one-listing latency;
  (b) scaling: `prodcat predict batch` over a folder of generated listing files, as 1 shard
      process and as 2 shard processes side by side (wall time from start to the last part,
      model loading included): listings/s and scaling efficiency (rate with 2 / 2 x rate with 1).

Models: --linear and --transformer artifact folders; without them a linear model is trained
here on --train-rows generated listings (stack_folds=0: the same layer shape as the default
stack), and the transformer is measured only when given. Prints a table; writes
benchmarks/results/batch.json.

    .venv/bin/python benchmarks/batch.py [--linear DIR] [--transformer DIR] [--rows 20000]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from common import print_table, write_json
from threadpoolctl import threadpool_limits

from prodcat_core.linear_model import LinearTextModel, ReferenceLinearScorer
from prodcat_core.model import load_model
from prodcat_core.text import listing_texts
from prodcat_data.synthetic import generate_listings

PRODCAT = str(Path(sys.executable).with_name("prodcat"))
Scorer = Callable[[Sequence[str]], npt.NDArray[np.float32]]


def rate(score: Scorer, texts: list[str], batch: int, seconds: float) -> tuple[float, float]:
    """(listings/s, ms per call) over consecutive slices of `texts`, for about `seconds`."""
    calls = done = 0
    started = time.perf_counter()
    while True:
        start = (calls * batch) % max(len(texts) - batch, 1)
        score(texts[start : start + batch])
        calls += 1
        done += batch
        elapsed = time.perf_counter() - started
        if elapsed >= seconds:
            return done / elapsed, 1000 * elapsed / calls


def per_core(
    linear_dir: Path, transformer_dir: Path | None, texts: list[str], seconds: float
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with threadpool_limits(1):
        for batch in (1, 32):
            legacy = ReferenceLinearScorer(LinearTextModel.load(linear_dir))
            before, before_ms = rate(legacy.predict_proba, texts, batch, seconds)
            cold_model = LinearTextModel.load(linear_dir)
            # Cold: every call reads texts the model has not seen (one pass, no repeat).
            cold_texts = texts[len(texts) // 2 :]
            cold, cold_ms = rate(cold_model.predict_proba, cold_texts, batch, min(seconds, 2.0))
            warm_model = LinearTextModel.load(linear_dir)
            warm_model.predict_proba(texts)  # every word seen once
            warm, warm_ms = rate(warm_model.predict_proba, texts, batch, seconds)
            rows.append(
                {
                    "family": "linear", "batch": batch,
                    "before_per_s": before, "before_ms": before_ms,
                    "cold_per_s": cold, "cold_ms": cold_ms,
                    "after_per_s": warm, "after_ms": warm_ms,
                    "speedup": warm / before, "speedup_cold": cold / before,
                }
            )  # fmt: skip
        if transformer_dir is not None:
            model = load_model(transformer_dir, intra_op_threads=1, parallel_calls=1).classifier
            for batch in (1, 32):
                model.predict_proba(texts[:batch])
                r, ms = rate(model.predict_proba, texts, batch, seconds)
                rows.append(
                    {
                        "family": "transformer", "batch": batch,
                        "before_per_s": r, "before_ms": ms, "after_per_s": r, "after_ms": ms,
                        "speedup": 1.0,
                    }
                )  # fmt: skip
    return rows


def write_listings(folder: Path, rows: int) -> None:
    x, _ = generate_listings(rows, 23)
    folder.mkdir(parents=True)
    for i, start in enumerate(range(0, rows, rows // 4)):
        x.iloc[start : start + rows // 4].to_csv(folder / f"listings-{i}.csv")


def shards_wall(
    model: Path,
    src: Path | str,
    out: Path,
    processes: int,
    *extra: str,
    env_extra: dict[str, str] | None = None,
) -> float:
    """Wall time of `processes` shard processes side by side (each with `extra` options)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREDICT_")}
    env |= {"PREDICT_THREADS": "1", "OMP_NUM_THREADS": "1", **(env_extra or {})}
    started = time.perf_counter()
    procs = [
        subprocess.Popen(
            [
                PRODCAT,
                "predict",
                "batch",
                "--input",
                str(src),
                "--output",
                str(out),
                "--model",
                str(model),
                "--shard-index",
                str(i),
                "--shard-count",
                str(processes),
                *extra,
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in range(processes)
    ]
    for p in procs:
        output, _ = p.communicate(timeout=3600)
        if p.returncode != 0:
            raise SystemExit(f"prodcat predict batch failed:\n{output}")
    return time.perf_counter() - started


def train_linear(workdir: Path, rows: int) -> Path:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATA_", "TRAIN_", "MLFLOW_"))}
    env |= {"MLFLOW_TRACKING_URI": f"sqlite:///{workdir / 'mlruns.db'}"}

    def cli(*args: str) -> str:
        return subprocess.run(
            [PRODCAT, *args], cwd=workdir, env=env, check=True, capture_output=True, text=True
        ).stdout

    cli("data", "generate", "--out", "raw", "--rows", str(rows), "--seed", "42")
    cli("data", "import", "--x", "raw/X_train_update.csv", "--y", "raw/Y_train_CVw08PX.csv")
    cli("data", "preprocess")
    out = cli("train", "--family", "linear", "--set", "stack_folds=0", "--set", "refit=false")
    match = re.search(r"-> (\S+)", out)
    if match is None:
        raise SystemExit(f"no artifact in the train output:\n{out}")
    return (workdir / match.group(1)).resolve()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--linear", type=Path, help="linear artifact (default: train one)")
    parser.add_argument("--transformer", type=Path, help="transformer artifact (optional)")
    parser.add_argument("--train-rows", type=int, default=85_000)
    parser.add_argument("--rows", type=int, default=20_000, help="listings scored in (b)")
    parser.add_argument("--seconds", type=float, default=3.0, help="per rate measured in (a)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp:
        work = Path(tmp)
        linear = args.linear.resolve() if args.linear else train_linear(work, args.train_rows)
        x, _ = generate_listings(8000, 99)
        texts = listing_texts(x["designation"].tolist(), x["description"].tolist())
        rows = per_core(linear, args.transformer, texts, args.seconds)
        print_table(
            rows,
            ["family", "batch", "before_per_s", "after_per_s", "cold_per_s", "speedup",
             "speedup_cold", "before_ms", "after_ms", "cold_ms"],
        )  # fmt: skip

        src = work / "listings"
        write_listings(src, args.rows)
        one = shards_wall(linear, src, work / "out-1", 1)
        two = shards_wall(linear, src, work / "out-2", 2)
    scaling = [
        {"processes": 1, "seconds": one, "listings_per_s": args.rows / one, "efficiency": 1.0},
        {
            "processes": 2,
            "seconds": two,
            "listings_per_s": args.rows / two,
            "efficiency": one / (2 * two),
        },
    ]
    print()
    print_table(scaling, ["processes", "seconds", "listings_per_s", "efficiency"])
    linear_rows = {r["batch"]: r for r in rows if r["family"] == "linear"}
    targets = {
        "linear_batch32_speedup_ge_3": linear_rows[32]["speedup"] >= 3.0,
        "one_listing_le_5ms": linear_rows[1]["after_ms"] <= 5.0,
    }
    print()
    print_table([targets], list(targets))
    path = write_json(
        "batch",
        {
            "rows_scored": args.rows,
            "transformer": args.transformer is not None,
            "per_core": rows,
            "scaling": scaling,
            "targets": targets,
        },
    )
    print(
        f"\nwrote {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path.name}"
    )


if __name__ == "__main__":
    main()

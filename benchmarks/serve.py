"""Benchmark: the predictor's throughput and latency, all on 127.0.0.1, in one run.

  (a) raw model: `predict_proba` in process, 1, 8 and 32 listings in flight; 8 in flight both as
      one call of batch 8 on all the threads and split into parallel calls on fewer threads
      each (benchmarks/threads.py): the best of these is the ceiling a server at concurrency 8
      is held to;
  (b) our server (`prodcat predict serve`, 1 worker, micro-batching on) at concurrency 1/8/32;
  (c) the peer: `mlflow models serve --env-manager local` on the same model (the pyfunc the train
      stage registers; with --model, a models-from-code wrapper written here around the artifact);
  (d) our server with batching off at the same concurrencies.

Each HTTP point is a closed loop: `concurrency` clients each send one listing per request, the next
as soon as the last is answered, for --seconds after a short warm-up; req/s, p50 and p99 latency.
For our server each point also gives the mean listings per model call (from its /metrics). The
load generator (benchmarks/load.py, a lean HTTP/1.1 client) runs on the same machine and competes
with the server for CPU, the same for every server measured. Prints a table;
writes benchmarks/results/serve-<family>.json (linear when it trains its own model).

    .venv/bin/python benchmarks/serve.py [--seconds 3] [--rows 3000] [--model ARTIFACT_DIR]
        [--set PREDICT_WORKERS=2 ...]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
from common import print_table, work_env, write_json
from load import closed_loop
from threads import measure, split_points

from prodcat_core.artifact import read_artifact
from prodcat_core.cpus import available_cpus

BIN = Path(sys.executable).parent
CONCURRENCY = (1, 8, 32)
START_TIMEOUT_S = 180.0

Listing = tuple[str, str | None]
BodyOf = Callable[[Listing], dict[str, Any]]

PYFUNC_WRAPPER = '''
"""Minimal MLflow pyfunc around a prodcat artifact (models from code: no pickle)."""
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd

from prodcat_core.model import load_model
from prodcat_core.text import listing_texts


class Wrapper(mlflow.pyfunc.PythonModel):
    def load_context(self, context):
        self.loaded = load_model(Path(context.artifacts["artifact"]))

    def predict(self, context, model_input, params=None):
        description = model_input.get("description", pd.Series([None] * len(model_input)))
        texts = listing_texts(model_input["designation"].tolist(), description.tolist())
        proba = self.loaded.classifier.predict_proba(texts)
        best = proba.argmax(axis=1)
        confidence = proba[np.arange(len(best)), best]
        codes = self.loaded.codec.decode(best)
        return pd.DataFrame({"prdtypecode": codes, "confidence": confidence})


mlflow.models.set_model(Wrapper())
'''


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_cli(env: dict[str, str], cwd: Path, *args: str) -> str:
    done = subprocess.run(
        [str(BIN / "prodcat"), *args], env=env, cwd=cwd, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"prodcat {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def bench_env(work: Path) -> dict[str, str]:
    """This environment without prodcat's settings, with stores and tracking under `work`."""
    return work_env(work, BIN)


def build_model(work: Path, rows: int, env: dict[str, str]) -> tuple[Path, str | None]:
    """Synthetic rows → import → preprocess → train; the artifact and its registry URI."""
    raw = work / "raw"
    run_cli(env, work, "data", "generate", "--out", str(raw), "--rows", str(rows), "--seed", "3")
    run_cli(
        env, work, "data", "import",
        "--x", str(raw / "X_train_update.csv"), "--y", str(raw / "Y_train_CVw08PX.csv"),
    )  # fmt: skip
    run_cli(env, work, "data", "preprocess")
    out = run_cli(
        env, work, "train", "--set", "word_max_features=20000", "--set", "char_max_features=20000"
    )
    artifact = re.search(r"-> (\S+)", out)
    version = re.search(r"registered as version (\d+)", out)
    if artifact is None:
        raise SystemExit(f"no artifact path in the train output:\n{out}")
    return Path(artifact.group(1)), (f"models:/prodcat/{version.group(1)}" if version else None)


def load_listings(work: Path, limit: int = 1000) -> list[Listing]:
    frame = pd.read_csv(work / "raw" / "X_train_update.csv", nrows=limit)
    return [
        (str(d), None if pd.isna(desc) else str(desc))
        for d, desc in zip(frame["designation"], frame["description"], strict=True)
    ]


def raw_throughput(artifact: Path, listings: list[Listing], seconds: float) -> list[dict[str, Any]]:
    from prodcat_core.text import listing_text

    texts = [listing_text(d, desc) for d, desc in listings]
    cpus = available_cpus()
    rows = []
    for calls, threads, batch in [(1, cpus, 1), *split_points(cpus, 8), (1, cpus, 32)]:
        point = measure(artifact, texts, calls, threads, batch, seconds)
        rows.append(
            {
                "case": "(a) raw predict_proba",
                "concurrency": f"{calls} x batch {batch}, {threads} thr",
                "in_flight": calls * batch,
                "listings_per_s": point["listings_per_s"],
                "p50_ms": point["p50_call_ms"],
                "p99_ms": point["p99_call_ms"],
            }
        )
        print(f"  raw {rows[-1]['concurrency']}: {point['listings_per_s']:.0f}/s", file=sys.stderr)
    return rows


@contextmanager
def running(
    cmd: list[str], env: dict[str, str], ready_url: str, log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + START_TIMEOUT_S
            while True:
                if proc.poll() is not None:
                    raise SystemExit(f"{cmd[0]} exited:\n{log.read_text()[-3000:]}")
                try:
                    if httpx.get(ready_url, timeout=2.0).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise SystemExit(f"{cmd[0]} not ready in {START_TIMEOUT_S}s")
                time.sleep(0.2)
            yield proc
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def batch_counters(metrics_url: str) -> tuple[float, float]:
    """(listings, model calls) so far, from the server's batch-size histogram."""
    text = httpx.get(metrics_url, timeout=10.0).text
    found = dict(re.findall(r"^prodcat_predictor_batch_size_(sum|count) (\S+)$", text, re.M))
    return float(found.get("sum", 0.0)), float(found.get("count", 0.0))


def serve_points(
    case: str,
    url: str,
    body_of: BodyOf,
    listings: list[Listing],
    seconds: float,
    metrics_url: str | None = None,
) -> list[dict[str, Any]]:
    rows = []
    bodies = [json.dumps(body_of(listing)).encode() for listing in listings]
    for concurrency in CONCURRENCY:
        before = batch_counters(metrics_url) if metrics_url else None
        point = closed_loop(url, bodies, concurrency, seconds)
        if metrics_url and before:
            after = batch_counters(metrics_url)
            calls = after[1] - before[1]
            point["mean_batch"] = (after[0] - before[0]) / calls if calls else None
        rows.append({"case": case, **point})
        print(f"  {case} c={concurrency}: {point['req_per_s']:.0f} req/s", file=sys.stderr)
    return rows


def product_body(listing: Listing) -> dict[str, Any]:
    return {"designation": listing[0], "description": listing[1]}


def mlflow_body(listing: Listing) -> dict[str, Any]:
    return {"dataframe_split": {"columns": ["designation", "description"], "data": [list(listing)]}}


def our_server(
    artifact: Path, env: dict[str, str], batching: bool, settings: dict[str, str]
) -> tuple[list[str], dict[str, str], str, str, str]:
    port = free_port()
    server_env = {
        **env,
        "PREDICT_MAX_QUEUE": "100000",
        **settings,
        "PREDICT_MODEL_SOURCE": str(artifact),
        "PREDICT_HOST": "127.0.0.1",
        "PREDICT_HTTP_PORT": str(port),
        "PREDICT_BATCHING": str(batching).lower(),
    }
    base = f"http://127.0.0.1:{port}"
    return (
        [str(BIN / "prodcat"), "predict", "serve"],
        server_env,
        f"{base}/v2/models/prodcat/ready",
        f"{base}/v1/products:classify",
        f"{base}/metrics",
    )


def mlflow_model_uri(artifact: Path, registered: str | None, work: Path) -> tuple[str, str]:
    """The registered pyfunc when training logged one; else a models-from-code wrapper."""
    if registered is not None:
        return registered, "registered pyfunc (prodcat_train.pyfunc_model)"
    import mlflow

    code = work / "pyfunc_wrapper.py"
    code.write_text(PYFUNC_WRAPPER, encoding="utf-8")
    target = work / "pyfunc"
    mlflow.pyfunc.save_model(
        path=str(target), python_model=str(code), artifacts={"artifact": str(artifact)}
    )
    return str(target), "models-from-code wrapper written by the benchmark"


def target_checks(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The issue's targets at concurrency 8, as ratios of points measured in this run."""

    def point(case: str, concurrency: int | str) -> dict[str, Any]:
        (found,) = (r for r in rows if r["case"] == case and r["concurrency"] == concurrency)
        return found

    ours = point("(b) prodcat batching on", 8)
    off = point("(d) prodcat batching off", 8)
    peer = point("(c) mlflow models serve", 8)
    raw = max(
        (r for r in rows if r["case"] == "(a) raw predict_proba" and r["in_flight"] == 8),
        key=lambda r: float(r["listings_per_s"]),
    )

    def at_least(target: str, ratio: float, goal: float) -> dict[str, Any]:
        return {"target": target, "measured": ratio, "goal": f">= {goal}", "met": ratio >= goal}

    def at_most(target: str, ratio: float, goal: float, strict: bool) -> dict[str, Any]:
        met = ratio < goal if strict else ratio <= goal
        return {"target": target, "measured": ratio, "goal": f"{'<' if strict else '<='} {goal}",
                "met": met}  # fmt: skip

    return [
        at_least(
            f"ours c=8 / best raw, 8 in flight ({raw['concurrency']})",
            ours["listings_per_s"] / raw["listings_per_s"],
            0.85,
        ),
        at_least("ours c=8 / mlflow c=8 (req/s)", ours["req_per_s"] / peer["req_per_s"], 2.0),
        at_most("p99 ours / mlflow, c=8", ours["p99_ms"] / peer["p99_ms"], 1.0, strict=True),
        at_least("batching on / off, c=8 (req/s)", ours["req_per_s"] / off["req_per_s"], 1.5),
        at_most("p99 batching on / off, c=8", ours["p99_ms"] / off["p99_ms"], 2.0, strict=False),
    ]


def model_arguments(doc: str | None, seconds: float) -> argparse.ArgumentParser:
    """The options of a benchmark that serves a model: seconds per point, and the model."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0] if doc else None)
    parser.add_argument("--seconds", type=float, default=seconds, help="measured seconds per point")
    parser.add_argument("--rows", type=int, default=3000, help="synthetic rows to train on")
    parser.add_argument("--model", type=Path, help="an existing artifact (skips training)")
    return parser


def model_for(args: argparse.Namespace, work: Path, env: dict[str, str]) -> tuple[Path, str | None]:
    """--model, or one trained on --rows synthetic rows; listings are generated in `work` either
    way."""
    print("building the model…", file=sys.stderr)
    if args.model is not None:
        run_cli(env, work, "data", "generate", "--out", str(work / "raw"), "--rows", "1000")
        return args.model.resolve(), None
    return build_model(work, args.rows, env)


def main() -> None:
    parser = model_arguments(__doc__, 3.0)
    parser.add_argument(
        "--set",
        dest="settings",
        action="append",
        default=[],
        metavar="PREDICT_X=VALUE",
        help="a predictor setting for both of our servers (repeatable; defaults otherwise)",
    )
    args = parser.parse_args()
    settings = dict(item.split("=", 1) for item in args.settings)
    if any(not key.startswith("PREDICT_") for key in settings):
        parser.error("--set takes PREDICT_* variables only")
    load_before = os.getloadavg()[0]

    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        work = Path(tmp)
        env = bench_env(work)
        artifact, registered = model_for(args, work, env)
        family = read_artifact(artifact, verify=False)[0].family
        listings = load_listings(work)
        rows = raw_throughput(artifact, listings, args.seconds)

        for batching, case in (
            (True, "(b) prodcat batching on"),
            (False, "(d) prodcat batching off"),
        ):
            cmd, server_env, ready, url, metrics = our_server(artifact, env, batching, settings)
            with running(cmd, server_env, ready, work / f"prodcat-{batching}.log"):
                rows += serve_points(case, url, product_body, listings, args.seconds, metrics)

        model_uri, peer = mlflow_model_uri(artifact, registered, work)
        port = free_port()
        cmd = [
            str(BIN / "mlflow"), "models", "serve", "-m", model_uri, "--env-manager", "local",
            "-h", "127.0.0.1", "-p", str(port), "-w", "1",
        ]  # fmt: skip
        with running(cmd, env, f"http://127.0.0.1:{port}/ping", work / "mlflow.log"):
            rows += serve_points(
                "(c) mlflow models serve",
                f"http://127.0.0.1:{port}/invocations",
                mlflow_body,
                listings,
                args.seconds,
            )

    columns = [
        "case", "concurrency", "req_per_s", "listings_per_s", "mean_batch", "p50_ms", "p99_ms",
        "errors",
    ]  # fmt: skip
    print_table(rows, columns)
    checks = target_checks(rows)
    print()
    print_table(checks, ["target", "measured", "goal", "met"])
    path = write_json(
        f"serve-{family}",
        {
            "seconds_per_point": args.seconds,
            "train_rows": None if args.model else args.rows,
            "model": artifact.name,
            "family": family,
            "targets": checks,
            "mlflow_peer": peer,
            "server": "defaults (1 worker, max batch 32, max wait 2 ms) unless set; one listing "
            "per request",
            "server_settings": settings,
            "cpus_available": available_cpus(),
            # Other work on the machine skews every number; compare cases within one run.
            "load_average_1min": {"before": load_before, "after": os.getloadavg()[0]},
            "results": rows,
        },
    )
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()

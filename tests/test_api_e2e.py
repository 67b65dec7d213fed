"""End to end, the embedded default: `prodcat data serve` as a process on 127.0.0.1, driven over
HTTP like a developer would. Upload -> preprocess -> train run -> evaluate run (promotion on) ->
champion; the CLI sees the same runs; the API restarted mid-run keeps the run and its outcome,
and a run whose process died while the API was down is marked lost."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import psutil
import pytest

from prodcat_data.synthetic import generate_listings, write_challenge_files

pytestmark = pytest.mark.slow

PRODCAT = str(Path(sys.executable).parent / "prodcat")
SMALL = {"word_max_features": 20000, "char_max_features": 20000}
TERMINAL = ("succeeded", "failed", "cancelled")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(workdir: Path) -> dict[str, str]:
    """This machine's environment without any prodcat/MLflow settings: the defaults, relative to
    the working directory, are what is tested."""
    prefixes = ("DATA_", "TRAIN_", "EVALUATE_", "PREDICT_", "MLFLOW_", "PRODCAT_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env.update(
        {"DATA_RECONCILE_INTERVAL_S": "1", "PRODCAT_LOG_FORMAT": "json", "HOME": str(workdir)}
    )
    return env


class Api:
    """`prodcat data serve` in `workdir`, restartable."""

    def __init__(self, workdir: Path, extra_env: dict[str, str] | None = None) -> None:
        self.workdir = workdir
        self.extra_env = extra_env or {}
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.log = workdir / "api.log"

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [PRODCAT, "data", "serve", "--port", str(self.port)],
                cwd=self.workdir,
                env=clean_env(self.workdir) | self.extra_env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while True:
            assert self.process.poll() is None, self.log.read_text()
            try:
                if httpx.get(f"{self.url}/health", timeout=1, trust_env=False).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, self.log.read_text()
            time.sleep(0.2)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=30)
        self.process = None


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("e2e")


@pytest.fixture(scope="module")
def api(workdir: Path) -> Iterator[Api]:
    server = Api(workdir)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def http(api: Api) -> Iterator[httpx.Client]:
    # The base URL stays valid across restarts (same port).
    with httpx.Client(base_url=api.url, timeout=120, trust_env=False) as client:
        yield client


def wait_for(
    http: httpx.Client, run_id: str, states: tuple[str, ...], timeout_s: float = 240
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        run: dict[str, Any] = http.get(f"/runs/{run_id}").json()
        if run["state"] in states:
            return run
        assert time.monotonic() < deadline, f"{run_id} is {run['state']}: {run['logs_tail']}"
        time.sleep(0.5)


def cli(workdir: Path, *args: str) -> str:
    done = subprocess.run(
        [PRODCAT, "--log-level", "WARNING", *args],  # logs share stdout with --json output
        cwd=workdir,
        env=clean_env(workdir),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def cli_fails(workdir: Path, *args: str) -> str:
    done = subprocess.run(
        [PRODCAT, "--log-level", "WARNING", *args],
        cwd=workdir,
        env=clean_env(workdir),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, (done.stdout, done.stderr)
    return done.stderr


@pytest.fixture(scope="module")
def prepared_id(http: httpx.Client, workdir: Path) -> str:
    x, y = write_challenge_files(workdir / "raw", 1200, 5)
    with x.open("rb") as xf, y.open("rb") as yf:
        uploaded = http.post(
            "/datasets", files={"x": (x.name, xf, "text/csv"), "y": (y.name, yf, "text/csv")}
        )
    assert uploaded.status_code == 201, uploaded.text
    dataset_id = uploaded.json()["dataset_id"]
    assert http.get(f"/datasets/{dataset_id}").json()["n_rows"] == 1200
    prepared = http.post(f"/datasets/{dataset_id}/preprocess", json={"test": 0.15, "seed": 3})
    assert prepared.status_code == 201, prepared.text
    return str(prepared.json()["prepared_id"])


@pytest.fixture(scope="module")
def champion_run(http: httpx.Client, prepared_id: str) -> dict[str, Any]:
    body = {"kind": "train", "prepared_id": prepared_id, "params": SMALL}
    started = http.post("/runs", json=body, headers={"Idempotency-Key": "e2e-train"})
    assert started.status_code == 201, started.text
    trained = wait_for(http, started.json()["id"], TERMINAL)
    assert trained["state"] == "succeeded", trained["logs_tail"]
    model_id = trained["outcome"]["model_id"]

    evaluate = {"kind": "evaluate", "prepared_id": prepared_id, "model": model_id, "promote": True}
    started = http.post("/runs", json=evaluate)
    assert started.status_code == 201, started.text
    evaluated = wait_for(http, started.json()["id"], TERMINAL)
    assert evaluated["state"] == "succeeded", evaluated["logs_tail"]
    return {"train": trained, "evaluate": evaluated}


def test_upload_preprocess_train_evaluate_champion(
    http: httpx.Client, champion_run: dict[str, Any], workdir: Path
) -> None:
    trained, evaluated = champion_run["train"], champion_run["evaluate"]
    model_id = trained["outcome"]["model_id"]
    assert (workdir / "models" / "artifacts" / model_id / "metadata.json").is_file()
    assert trained["outcome"]["registry_version"] == "1"
    assert evaluated["outcome"]["model_id"] == model_id
    assert evaluated["outcome"]["promoted"] is True
    assert evaluated["outcome"]["metrics"]["test_weighted_f1"] > 0.2

    models = http.get("/models").json()
    assert models["champion"]["version"] == "1"
    assert models["champion"]["model_id"] == model_id
    assert models["champion"]["promotion_reason"].startswith("promoted")

    # The CLI reads the same runs and registry.
    listed = json.loads(cli(workdir, "runs", "list", "--json"))
    assert {r["id"] for r in listed} >= {trained["id"], evaluated["id"]}
    assert f"version 1 ({model_id})" in cli(workdir, "models", "show")
    metrics = http.get("/metrics").text
    assert 'prodcat_api_runs{state="succeeded"} 2.0' in metrics
    assert 'route="/runs/{run_id}"' in metrics

    # A run started from the CLI goes through the same runner and database: the API sees it.
    prepared_id = trained["prepared_id"]
    started = json.loads(
        cli(workdir, "runs", "start", "evaluate", "--model", model_id, "--prepared", prepared_id,
            "--wait", "--json")
    )  # fmt: skip
    assert started["state"] == "succeeded"
    assert started["promote"] is False
    assert http.get(f"/runs/{started['id']}").json()["outcome"]["model_id"] == model_id
    # Refusals are the API's, as one line and exit code 2.
    assert "replaced no earlier champion" in cli_fails(workdir, "models", "rollback")
    assert "already the champion" in cli_fails(workdir, "models", "promote", "1")
    assert "not a run id" in cli_fails(workdir, "runs", "cancel", "../x")


def test_a_restarted_api_keeps_runs_and_outcomes(
    api: Api, http: httpx.Client, prepared_id: str, champion_run: dict[str, Any], workdir: Path
) -> None:
    body = {"kind": "train", "prepared_id": prepared_id, "params": {**SMALL, "c": 0.3}}
    run = http.post("/runs", json=body, headers={"Idempotency-Key": "e2e-restart"}).json()
    wait_for(http, run["id"], ("running", *TERMINAL))

    api.stop()  # mid-run: the run is not the API's child, it goes on
    api.start()

    again = http.post("/runs", json=body, headers={"Idempotency-Key": "e2e-restart"})
    assert (again.status_code, again.json()["id"]) == (200, run["id"])  # the key survived too
    finished = wait_for(http, run["id"], TERMINAL)
    assert finished["state"] == "succeeded", finished["logs_tail"]
    assert finished["created_at"] == run["created_at"]
    assert finished["outcome"]["model_id"].startswith("m-")
    assert finished["outcome"]["registry_version"] == "2"
    # What finished before the restart kept its outcome.
    before = champion_run["train"]
    assert http.get(f"/runs/{before['id']}").json()["outcome"] == before["outcome"]


def test_a_run_that_died_while_the_api_was_down_is_lost(
    api: Api, http: httpx.Client, prepared_id: str, workdir: Path
) -> None:
    body = {"kind": "train", "prepared_id": prepared_id, "params": {**SMALL, "c": 0.4}}
    run = http.post("/runs", json=body).json()
    wait_for(http, run["id"], ("running",))

    api.stop()
    pid = json.loads((workdir / "data" / "runs" / run["id"] / "process.json").read_text())["pid"]
    group = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    os.killpg(pid, signal.SIGKILL)  # the machine rebooted, say
    psutil.wait_procs(group, timeout=10)
    api.start()

    lost = http.get(f"/runs/{run['id']}").json()
    assert lost["state"] == "failed"
    assert lost["reason"].startswith("lost")
    shown = cli(workdir, "runs", "show", run["id"], "--logs", "0")
    assert "failed" in shown
    assert "lost" in shown


def test_a_batch_run_scores_a_folder_in_shards(
    http: httpx.Client, champion_run: dict[str, Any], workdir: Path
) -> None:
    """POST /runs kind batch: the local runner runs the shards as parallel processes; the parts,
    the manifest and _SUCCESS land under the output root, scored by the pinned version."""
    x, _ = generate_listings(900, 17)
    catalogue = workdir / "data" / "batch" / "catalogue"
    catalogue.mkdir(parents=True)
    x.iloc[:400].to_csv(catalogue / "a.csv")
    x.iloc[400:].to_parquet(catalogue / "b.parquet")
    body = {"kind": "batch", "input": "catalogue", "output": "cat-v1", "model_version": "1"}
    started = http.post("/runs", json={**body, "shards": 3})
    assert started.status_code == 201, started.text
    run = wait_for(http, started.json()["id"], TERMINAL)
    assert run["state"] == "succeeded", run["logs_tail"]
    assert run["model_version"] == "1"
    assert run["params"] == {"input": "catalogue", "output": "cat-v1", "shards": 3}
    out = workdir / "models" / "batch" / "cat-v1"
    assert (out / "_SUCCESS").is_file()
    parts = [pd.read_parquet(out / f"part-{i}-of-3.parquet") for i in range(3)]
    assert sum(len(p) for p in parts) == 900
    assert all((p["model_version"] == "1").all() for p in parts)
    assert json.loads((out / "manifest.json").read_text())["model_version"] == "1"

    # The CLI starts the same kind of run.
    started_cli = json.loads(
        cli(workdir, "runs", "start", "batch", "--input", "catalogue", "--output", "cat-cli",
            "--model-version", "1", "--shards", "2", "--wait", "--json")
    )  # fmt: skip
    assert started_cli["state"] == "succeeded"
    assert (workdir / "models" / "batch" / "cat-cli" / "_SUCCESS").is_file()
    # A path out of the root or an unknown version is refused before anything starts.
    escaping = http.post("/runs", json={**body, "input": "../datasets"})
    assert escaping.status_code in (400, 422), escaping.text
    assert http.post("/runs", json={**body, "model_version": "99"}).status_code == 404

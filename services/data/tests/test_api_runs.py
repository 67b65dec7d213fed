"""Runs and models through the real API and the real LocalRunner (processes of `prodcat`):
exactly-once starts per Idempotency-Key, also across two API replicas sharing the database,
cancel, filters, bad requests, and promotion/rollback through the evaluate stage's gate."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from prodcat_data.api.app import create_app
from prodcat_data.api.server import serve_in_thread, settings_under
from prodcat_data.config import DataSettings

SMALL = {"word_max_features": 20000, "char_max_features": 20000}
TERMINAL = ("succeeded", "failed", "cancelled")


def make_settings(root: Path) -> DataSettings:
    return settings_under(root, reconcile_interval_s=1.0)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("runs")


@pytest.fixture(scope="module")
def api(root: Path) -> Iterator[httpx.Client]:
    with (
        serve_in_thread(create_app(make_settings(root))) as url,
        httpx.Client(base_url=url, timeout=60, trust_env=False) as client,
    ):
        yield client


@pytest.fixture(scope="module")
def replica(root: Path) -> Iterator[httpx.Client]:
    """A second API process's worth of app on the same database and stores."""
    with (
        serve_in_thread(create_app(make_settings(root))) as url,
        httpx.Client(base_url=url, timeout=60, trust_env=False) as client,
    ):
        yield client


@pytest.fixture(scope="module")
def prepared_id(
    api: httpx.Client, root: Path, prepare_via_api: Callable[[httpx.Client, Path, int, int], str]
) -> str:
    return prepare_via_api(api, root / "raw", 700, 11)


def wait_until_done(api: httpx.Client, run_id: str, timeout_s: float = 180) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        run: dict[str, Any] = api.get(f"/runs/{run_id}").json()
        if run["state"] in TERMINAL:
            return run
        assert time.monotonic() < deadline, f"run {run_id} still {run['state']}: {run['logs_tail']}"
        time.sleep(0.5)


def count_runs(api: httpx.Client) -> int:
    return len(api.get("/runs", params={"limit": 500}).json())


@pytest.fixture(scope="module")
def trained(api: httpx.Client, prepared_id: str) -> dict[str, Any]:
    body = {"kind": "train", "prepared_id": prepared_id, "params": SMALL}
    started = api.post("/runs", json=body, headers={"Idempotency-Key": "train-1"})
    assert started.status_code == 201, started.text
    assert started.json()["state"] in ("pending", "running")
    return wait_until_done(api, started.json()["id"])


def test_a_train_run_completes_with_its_outcome(trained: dict[str, Any], prepared_id: str) -> None:
    assert trained["state"] == "succeeded", trained["logs_tail"]
    assert trained["exit_code"] == 0
    assert trained["prepared_id"] == prepared_id
    assert trained["params"] == SMALL
    assert trained["outcome"]["model_id"].startswith("m-")
    assert trained["outcome"]["registry_version"] == "1"
    assert len(trained["outcome"]["mlflow_run_id"]) == 32
    assert 0 < trained["outcome"]["metrics"]["val_weighted_f1"] <= 1
    assert trained["started_at"] <= trained["finished_at"]
    assert any(line.startswith("trained m-") for line in trained["logs_tail"])


def test_a_retry_returns_the_same_run(
    api: httpx.Client, trained: dict[str, Any], prepared_id: str
) -> None:
    before = count_runs(api)
    body = {"kind": "train", "prepared_id": prepared_id, "params": SMALL}
    retry = api.post("/runs", json=body, headers={"Idempotency-Key": "train-1"})
    assert retry.status_code == 200
    assert retry.json()["id"] == trained["id"]
    assert retry.json()["state"] == "succeeded"
    # Defaults spelled out are the same request.
    explicit = {**body, "family": "linear"}
    assert (
        api.post("/runs", json=explicit, headers={"Idempotency-Key": "train-1"}).status_code == 200
    )

    other = api.post(
        "/runs", json={**body, "params": {"c": 0.1}}, headers={"Idempotency-Key": "train-1"}
    )
    assert other.status_code == 409
    assert trained["id"] in other.json()["error"]
    assert count_runs(api) == before


def test_filters(api: httpx.Client, trained: dict[str, Any]) -> None:
    ids = [r["id"] for r in api.get("/runs", params={"kind": "train", "state": "succeeded"}).json()]
    assert trained["id"] in ids
    assert api.get("/runs", params={"kind": "evaluate", "state": "running"}).json() == []
    assert api.get("/runs", params={"state": "exploded"}).status_code == 422


def test_two_replicas_start_one_run_and_cancel_it(
    api: httpx.Client, replica: httpx.Client, prepared_id: str, root: Path
) -> None:
    before = count_runs(api)
    key = str(uuid.uuid4())
    body = {"kind": "train", "prepared_id": prepared_id, "params": {**SMALL, "c": 0.2}}

    def post(i: int) -> httpx.Response:
        client = api if i % 2 else replica
        return client.post("/runs", json=body, headers={"Idempotency-Key": key})

    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(post, range(8)))
    assert sorted(r.status_code for r in responses) == [200] * 7 + [201]
    run_ids = {r.json()["id"] for r in responses}
    assert len(run_ids) == 1
    assert count_runs(api) == before + 1
    run_id = run_ids.pop()
    assert len(list((root / "data" / "runs").glob(f"{run_id}/process.json"))) <= 1

    cancelled = replica.post(f"/runs/{run_id}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["state"] == "cancelled"
    assert api.post(f"/runs/{run_id}/cancel").json()["state"] == "cancelled"  # idempotent
    time.sleep(1)
    assert api.get(f"/runs/{run_id}").json()["state"] == "cancelled"


def test_a_finished_run_cannot_be_cancelled(api: httpx.Client, trained: dict[str, Any]) -> None:
    response = api.post(f"/runs/{trained['id']}/cancel")
    assert response.status_code == 409
    assert "succeeded" in response.json()["error"]


@pytest.mark.parametrize(
    ("body", "headers", "status", "message"),
    [
        ({"kind": "train", "prepared_id": "pp-000000000000"}, {}, 404, "pp-000000000000"),
        ({"kind": "train", "prepared_id": "../x"}, {}, 422, "prepared_id"),
        ({"kind": "train", "prepared_id": "/data/prepared/pp-1"}, {}, 422, "prepared_id"),
        ({"kind": "train", "params": {"--set": 1}}, {}, 422, "params"),
        ({"kind": "train", "family": "rnn"}, {}, 422, "family"),
        ({"kind": "evaluate", "model": "../models/m-1"}, {}, 422, "model"),
        ({"kind": "evaluate", "model": "m-000000000000"}, {}, 404, "m-000000000000"),
        ({"kind": "evaluate", "model": "latest", "model_version": "1"}, {}, 422, "not both"),
        ({"kind": "deploy"}, {}, 422, "kind"),
        ({"kind": "train", "output": "/etc"}, {}, 422, "output"),
        ({"kind": "train"}, {"Idempotency-Key": "has space"}, 422, "Idempotency-Key"),
    ],
)
def test_bad_run_requests_start_nothing(
    api: httpx.Client,
    prepared_id: str,
    root: Path,
    body: dict[str, Any],
    headers: dict[str, str],
    status: int,
    message: str,
) -> None:
    before = count_runs(api), sorted(p.name for p in (root / "data" / "runs").iterdir())
    response = api.post("/runs", json=body, headers=headers)
    assert response.status_code == status, response.text
    assert message in response.json()["error"]
    assert (count_runs(api), sorted(p.name for p in (root / "data" / "runs").iterdir())) == before


def test_an_evaluate_run_without_promotion(
    api: httpx.Client, trained: dict[str, Any], prepared_id: str
) -> None:
    body = {"kind": "evaluate", "prepared_id": prepared_id, "model": trained["outcome"]["model_id"]}
    started = api.post("/runs", json=body)
    assert started.status_code == 201, started.text
    assert started.json()["promote"] is False
    run = wait_until_done(api, started.json()["id"])
    assert run["state"] == "succeeded", run["logs_tail"]
    assert run["outcome"]["model_id"] == trained["outcome"]["model_id"]
    assert run["outcome"]["promoted"] is False
    assert 0 < run["outcome"]["metrics"]["test_weighted_f1"] <= 1
    assert run["outcome"]["evaluation_id"].startswith("ev-")
    models = api.get("/models").json()
    assert models["champion"] is None
    assert models["challenger"]["version"] == "1"


def test_promote_through_the_gate_and_roll_back(
    api: httpx.Client, trained: dict[str, Any], prepared_id: str
) -> None:
    promoted = api.post("/models/promote", json={"version": "1"}, headers={"Idempotency-Key": "p1"})
    assert promoted.status_code == 202, promoted.text
    assert promoted.json()["model_version"] == "1"
    assert promoted.json()["promote"] is True
    assert promoted.json()["prepared_id"] == prepared_id  # the one version 1 was trained on
    run = wait_until_done(api, promoted.json()["id"])
    assert run["state"] == "succeeded", run["logs_tail"]
    assert run["outcome"]["promoted"] is True, run["outcome"]
    assert run["outcome"]["gate"].startswith("promoted")
    retry = api.post("/models/promote", json={"version": "1"}, headers={"Idempotency-Key": "p1"})
    assert (retry.status_code, retry.json()["id"]) == (200, run["id"])

    champion = api.get("/models").json()["champion"]
    assert champion["version"] == "1"
    assert champion["model_id"] == trained["outcome"]["model_id"]
    assert champion["promoted_at"]
    assert api.post("/models/promote", json={"version": "1"}).status_code == 409
    assert api.post("/models/promote", json={"version": "99"}).status_code == 404
    assert api.post("/models/promote", json={"version": "../1"}).status_code == 422

    # A second, identical model: the gate lets it replace the champion; rollback restores 1.
    body = {"kind": "train", "prepared_id": prepared_id, "params": SMALL}
    second = wait_until_done(api, api.post("/runs", json=body).json()["id"])
    assert second["outcome"]["registry_version"] == "2"
    run = wait_until_done(api, api.post("/models/promote", json={"version": "2"}).json()["id"])
    assert run["outcome"]["promoted"] is True, run["outcome"]
    models = api.get("/models").json()
    assert models["champion"]["version"] == "2"
    assert models["champion"]["previous_champion"] == "1"

    rolled = api.post("/models/rollback")
    assert rolled.status_code == 200, rolled.text
    assert rolled.json()["champion"]["version"] == "1"
    again = api.post("/models/rollback")
    assert again.status_code == 409
    assert "replaced no earlier champion" in again.json()["error"]

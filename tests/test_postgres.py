"""Postgres for real: the run database behind two data API processes, and MLflow's tracking
server on a Postgres backend. A throwaway cluster (Debian's `postgresql`) per module; the tests
skip with a reason where its binaries are absent."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from prodcat_core.registry import ModelRegistry
from prodcat_data.synthetic import write_challenge_files
from tests.support import SMALL_MODEL, MlflowServer, PostgresCluster, make_workspace
from tests.test_api_e2e import TERMINAL, Api, wait_for

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresCluster]:
    with PostgresCluster() as cluster:
        yield cluster


@pytest.fixture(scope="module")
def apis(
    postgres: PostgresCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Api, Api]]:
    """Two `prodcat data serve` processes on one run database (and one set of stores)."""
    workdir = tmp_path_factory.mktemp("replicas")
    env = {"DATA_DATABASE_URL": postgres.create_database("runs"), "DATA_MAX_ACTIVE_RUNS": "2"}
    first, second = Api(workdir, env), Api(workdir, env)
    second.log = workdir / "api-2.log"
    first.start()
    second.start()
    try:
        yield first, second
    finally:
        first.stop()
        second.stop()


@pytest.fixture(scope="module")
def prepared_id(apis: tuple[Api, Api], tmp_path_factory: pytest.TempPathFactory) -> str:
    x, y = write_challenge_files(tmp_path_factory.mktemp("raw"), 600, 3)
    with x.open("rb") as xf, y.open("rb") as yf:
        uploaded = httpx.post(f"{apis[0].url}/datasets", files={"x": xf, "y": yf}, timeout=120)
    assert uploaded.status_code == 201, uploaded.text
    dataset = uploaded.json()["dataset_id"]
    prepared = httpx.post(f"{apis[1].url}/datasets/{dataset}/preprocess", timeout=120)
    assert prepared.status_code == 201, prepared.text
    return str(prepared.json()["prepared_id"])


def post_runs(apis: tuple[Api, Api], bodies: list[tuple[dict[str, object], str]]) -> list[str]:
    """Posts each (body, Idempotency-Key) to /runs at once, alternating between the two API
    processes; returns 'status run-id-or-error' per request."""

    def post(i: int) -> str:
        body, key = bodies[i]
        url = apis[i % 2].url
        answer = httpx.post(f"{url}/runs", json=body, headers={"Idempotency-Key": key}, timeout=120)
        data = answer.json()
        return f"{answer.status_code} {data.get('id') or data.get('error')}"

    with ThreadPoolExecutor(max_workers=len(bodies)) as pool:
        return list(pool.map(post, range(len(bodies))))


def cancel_all(api: Api, answers: list[str]) -> None:
    for run_id in {a.split()[1] for a in answers if a.startswith(("200 ", "201 "))}:
        httpx.post(f"{api.url}/runs/{run_id}/cancel", timeout=60).raise_for_status()


def test_one_key_starts_one_run_over_two_api_processes(
    apis: tuple[Api, Api], prepared_id: str
) -> None:
    body: dict[str, object] = {"kind": "train", "prepared_id": prepared_id, "params": {"c": 0.5}}
    answers = post_runs(apis, [(body, "pg-same-key")] * 8)
    try:
        assert sorted(a.split()[0] for a in answers) == ["200"] * 7 + ["201"], answers
        assert len({a.split()[1] for a in answers}) == 1
    finally:
        cancel_all(apis[0], answers)


def test_the_run_limit_holds_over_two_api_processes(
    apis: tuple[Api, Api], prepared_id: str
) -> None:
    bodies: list[tuple[dict[str, object], str]] = [
        ({"kind": "train", "prepared_id": prepared_id, "params": {"c": 1.0 + i}}, f"pg-{i}")
        for i in range(6)
    ]
    answers = post_runs(apis, bodies)
    try:
        statuses = sorted(a.split()[0] for a in answers)
        assert statuses == ["201", "201", "429", "429", "429", "429"], answers
    finally:
        cancel_all(apis[0], answers)


def test_runs_survive_an_api_restart_and_both_see_the_same(
    apis: tuple[Api, Api], prepared_id: str
) -> None:
    first, second = apis
    body = {"kind": "train", "prepared_id": prepared_id, "params": {"c": 9.0}}
    started = httpx.post(f"{first.url}/runs", json=body, timeout=120)
    assert started.status_code == 201, started.text
    run_id = started.json()["id"]
    second.stop()
    second.start()
    with httpx.Client(base_url=second.url, timeout=120) as client:
        done = wait_for(client, run_id, TERMINAL)
    assert done["state"] == "succeeded", done["logs_tail"]
    assert done["outcome"]["model_id"]
    listed = [httpx.get(f"{api.url}/runs", timeout=60).json() for api in apis]
    assert listed[0] == listed[1]
    assert {run["state"] for run in listed[0]} <= set(TERMINAL)


def test_mlflow_on_postgres_registers_promotes_and_rolls_back(
    postgres: PostgresCluster, tmp_path: Path, synthetic_files: tuple[Path, Path]
) -> None:
    server = MlflowServer(tmp_path / "mlflow", postgres.create_database("mlflow"))
    server.root.mkdir()
    server.start()
    try:
        ws = make_workspace(tmp_path / "ws", tracking_uri=server.url)
        ws.root.mkdir()
        ws.run("data", "import", "--x", str(synthetic_files[0]), "--y", str(synthetic_files[1]))
        ws.run("data", "preprocess")
        for c in ("0.5", "2.0"):
            trained = ws.run("train", *SMALL_MODEL, "--set", f"c={c}")
            assert "(challenger)" in trained.stdout
        registry = ModelRegistry(server.url)
        assert [v.version for v in registry.versions()] == ["1", "2"]
        challenger = registry.get_alias("challenger")
        assert challenger is not None
        assert challenger.version == "2"

        registry.promote("1", "first champion")
        registry.promote("2", "better")
        champion = registry.get_alias("champion")
        assert champion is not None
        assert champion.version == "2"
        assert registry.rollback().version == "1"

        server.stop()  # the registry lives in Postgres, not in the server
        server.start()
        again = ModelRegistry(server.url).get_alias("champion")
        assert again is not None
        assert again.version == "1"
    finally:
        server.stop()

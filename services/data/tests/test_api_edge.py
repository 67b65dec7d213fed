"""The data API's edge, served for real on 127.0.0.1: body limits on the JSON routes, the
staging folders a crash left removed on startup, and a bound on concurrent runs."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from prodcat_core.staging import STAGING_PREFIX, held_folder
from prodcat_data.api.app import create_app
from prodcat_data.api.server import serve_in_thread, settings_under
from prodcat_data.config import DataSettings
from tests.support import rendered_offline, stalled_request

MAX_BODY_BYTES = 64 * 1024
TIMEOUT_S = 1.0


def make_settings(root: Path, **overrides: object) -> DataSettings:
    limits: dict[str, object] = {
        "max_body_bytes": MAX_BODY_BYTES,
        "max_active_runs": 2,
        "header_timeout_s": TIMEOUT_S,
        "body_timeout_s": TIMEOUT_S,
    }
    return settings_under(root, reconcile_interval_s=1.0, **{**limits, **overrides})


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("edge")


def client_of(settings: DataSettings) -> Iterator[httpx.Client]:
    with (
        serve_in_thread(create_app(settings), settings=settings) as url,
        httpx.Client(base_url=url, timeout=60, trust_env=False) as client,
    ):
        yield client


@pytest.fixture(scope="module")
def api(root: Path) -> Iterator[httpx.Client]:
    yield from client_of(make_settings(root))


@pytest.fixture(scope="module")
def replica(root: Path) -> Iterator[httpx.Client]:
    """A second API on the same database and stores, as a second replica would be."""
    yield from client_of(make_settings(root))


# Body limits ------------------------------------------------------------------------------


def run_body(size: int) -> bytes:
    """A JSON body of `size` bytes that would be a valid run request but for its padding."""
    head = b'{"kind": "train", "prepared_id": "pp-000000000000", "params": {"pad": "'
    return head + b"x" * (size - len(head) - 3) + b'"}}'


@pytest.mark.parametrize("path", ["/runs", "/datasets/import", "/datasets/latest/preprocess"])
def test_a_declared_body_over_the_limit_is_refused_unread(api: httpx.Client, path: str) -> None:
    response = api.post(
        path, content=run_body(MAX_BODY_BYTES + 1), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413, response.text
    assert f"limit of this route is {MAX_BODY_BYTES} bytes" in response.json()["error"]


def test_a_streamed_body_is_refused_once_over_the_limit(api: httpx.Client) -> None:
    sent = 0

    def chunks() -> Iterator[bytes]:  # no Content-Length: chunked transfer encoding
        nonlocal sent
        body = run_body(50 * MAX_BODY_BYTES)
        for start in range(0, len(body), 8192):
            sent += 8192
            yield body[start : start + 8192]

    try:
        response = api.post("/runs", content=chunks(), headers={"content-type": "application/json"})
    except httpx.HTTPError:  # the server may close while the client still writes
        pytest.fail("the API closed the connection instead of answering 413")
    assert response.status_code == 413, response.text
    assert "limit of this route" in response.json()["error"]
    assert api.get("/runs").json() == []


def test_a_body_under_the_limit_is_read(api: httpx.Client) -> None:
    response = api.post(
        "/runs", content=run_body(MAX_BODY_BYTES), headers={"content-type": "application/json"}
    )
    assert response.status_code == 422  # read and validated: its parameter is too long
    assert "'pad' is too long" in response.json()["error"]


def test_a_url_import_into_the_cluster_network_is_refused(api: httpx.Client, root: Path) -> None:
    # DATA_IMPORT_ALLOW_PRIVATE_URLS is off by default: the API vets each host and then connects
    # to the address it vetted (services/data/tests/test_sources.py shows the pinning).
    before = sorted(p.name for p in (root / "data").rglob("*"))
    response = api.post(
        "/datasets/import",
        json={"x_url": "http://127.0.0.1:9/X.csv", "y_url": "http://169.254.169.254/Y.csv"},
    )
    assert response.status_code == 400, response.text
    assert "x_url: host '127.0.0.1' is a private or local address" in response.json()["error"]
    assert sorted(p.name for p in (root / "data").rglob("*")) == before


# Slow clients and the server header ------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "message"),
    [
        (b"GET /health HTTP/1.1\r\nHost: x\r\n", b"headers did not arrive"),
        (
            b"POST /runs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b'Content-Length: 100\r\n\r\n{"kind": ',
            b"the request body stalled",
        ),
        (
            b"POST /datasets HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 100000\r\n\r\n"
            b'--b\r\nContent-Disposition: form-data; name="x"; filename="x.csv"\r\n\r\n,des',
            b"the request body stalled",
        ),
    ],
)
def test_a_stalled_request_gets_408_and_leaves_nothing(
    api: httpx.Client, root: Path, head: bytes, message: bytes
) -> None:
    answer = stalled_request(str(api.base_url), head, 30 * TIMEOUT_S)
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    assert message in answer
    assert list(make_settings(root).uploads().glob("upload-*")) == []


@pytest.mark.parametrize(
    ("page", "listed"),
    [
        # Swagger UI lists each operation under its path; ReDoc by its summary.
        ("docs", ['data-path="/runs/{run_id}/cancel"', 'data-path="/datasets/import"']),
        ("redoc", ["List runs, newest first", "Upload the X and Y files"]),
    ],
)
def test_the_docs_pages_work_without_a_network(
    api: httpx.Client, page: str, listed: list[str]
) -> None:
    html = api.get(f"/{page}").text
    assert "cdn.jsdelivr.net" not in html
    assert "fonts.googleapis.com" not in html
    dom = rendered_offline(f"{api.base_url}/{page}")
    assert [text for text in listed if text not in dom] == []


def test_no_server_header(api: httpx.Client) -> None:
    response = api.get("/health")
    assert response.status_code == 200
    assert "server" not in response.headers


# Crash leftovers --------------------------------------------------------------------------


def test_startup_removes_what_killed_writers_left_and_keeps_live_ones(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    parents = [
        (settings.uploads(), "upload-"),
        (settings.datasets_dir, STAGING_PREFIX),
        (settings.prepared_dir, STAGING_PREFIX),
        (settings.models_dir, STAGING_PREFIX),
    ]
    with contextlib.ExitStack() as owners:
        alive: list[Path] = []
        left: list[Path] = []
        for parent, prefix in parents:
            parent.mkdir(parents=True, exist_ok=True)
            # What a killed writer leaves: a folder nobody holds a lock on (the kernel dropped it;
            # services/core/tests/test_staging.py kills a real owner with SIGKILL).
            (orphan := parent / f"{prefix}killed").mkdir()
            (orphan / "x").write_bytes(b"x" * 100_000)
            left.append(orphan)
            held = owners.enter_context(held_folder(parent, prefix))
            (held / "x").write_bytes(b"x")
            alive.append(held)
        for folder in left + alive:  # older than the grace a just-created folder gets
            stat = folder.stat()
            os.utime(folder, (stat.st_atime - 3600, stat.st_mtime - 3600))

        with serve_in_thread(create_app(settings)):
            pass

        assert [folder for folder in left if folder.exists()] == []
        assert [folder for folder in alive if not (folder / "x").is_file()] == []


# Concurrent runs ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def prepared_id(
    api: httpx.Client, root: Path, prepare_via_api: Callable[[httpx.Client, Path, int, int], str]
) -> str:
    return prepare_via_api(api, root / "raw", 400, 5)


def test_runs_past_the_limit_are_refused_over_every_replica(
    api: httpx.Client, replica: httpx.Client, prepared_id: str
) -> None:
    def post(i: int) -> httpx.Response:
        body = {"kind": "train", "prepared_id": prepared_id, "params": {"c": 0.1 + i}}
        client = api if i % 2 else replica
        return client.post("/runs", json=body, headers={"Idempotency-Key": f"limit-{i}"})

    with ThreadPoolExecutor(max_workers=6) as pool:
        responses = list(pool.map(post, range(6)))
    started = [r.json()["id"] for r in responses if r.status_code == 201]
    refused = [r for r in responses if r.status_code == 429]
    try:
        assert (len(started), len(refused)) == (2, 4), [r.text for r in responses]
        assert "DATA_MAX_ACTIVE_RUNS" in refused[0].json()["error"]
        active = api.get("/runs").json()
        assert sorted(run["id"] for run in active) == sorted(started)  # refused: no record

        # A refused request's key is free: once a run ends, its retry starts.
        api.post(f"/runs/{started[0]}/cancel").raise_for_status()
        retried = post(responses.index(refused[0]))
        assert retried.status_code == 201, retried.text
        started.append(retried.json()["id"])
    finally:
        for run_id in started:
            api.post(f"/runs/{run_id}/cancel")

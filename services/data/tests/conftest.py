"""Fixtures of the data stage's tests: settings on temporary stores, generated challenge files,
a tree digest to prove a store unchanged, and a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import http.server
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from prodcat_data.config import DataSettings
from prodcat_data.synthetic import write_challenge_files

# Generated once per session, copied per test.
SYNTHETIC_ROWS = 300
SYNTHETIC_SEED = 7

TreeDigest = dict[str, str]


def tree_digest(root: Path) -> TreeDigest:
    """Every path under root -> sha256 of its bytes ("dir" for a folder): same digest, same tree."""
    if not root.exists():
        return {}
    digest: TreeDigest = {}
    for path in sorted(root.rglob("*")):
        key = path.relative_to(root).as_posix()
        digest[key] = "dir" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
    return digest


@pytest.fixture
def digest() -> Callable[[Path], TreeDigest]:
    return tree_digest


@pytest.fixture
def data_settings(tmp_path: Path) -> DataSettings:
    return DataSettings(
        datasets_dir=tmp_path / "store" / "datasets",
        prepared_dir=tmp_path / "store" / "prepared",
        download_timeout_s=10.0,
    )


@pytest.fixture
def system_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The folder `tempfile` hands out during the test, to check that nothing is left there."""
    folder = tmp_path / "system-tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


@pytest.fixture(scope="session")
def _synthetic_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("synthetic")
    write_challenge_files(folder, SYNTHETIC_ROWS, SYNTHETIC_SEED)
    return folder


@pytest.fixture
def synthetic_dir(_synthetic_source: Path, tmp_path: Path) -> Path:
    """A fresh copy of generated challenge files (X, Y and provenance.json)."""
    folder = tmp_path / "synthetic"
    shutil.copytree(_synthetic_source, folder)
    return folder


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves `root`; `/stream/<name>` sends a file with no Content-Length (read until close),
    `/fail/<code>` answers that status, `/host/<name>` answers the Host header it was sent."""

    def do_GET(self) -> None:
        if self.path.startswith("/host/"):
            body = str(self.headers.get("Host")).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if self.path.startswith("/fail/"):
            self.send_error(int(self.path.rsplit("/", 1)[1]))
            return
        if self.path.startswith("/stream/"):
            data = (Path(self.directory) / self.path.removeprefix("/stream/")).read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "text/csv")
            self.send_header("Connection", "close")
            self.end_headers()
            for start in range(0, len(data), 64):
                self.wfile.write(data[start : start + 64])
            self.close_connection = True
            return
        super().do_GET()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def http_root(tmp_path: Path) -> Path:
    """The folder `http_url` serves."""
    root = tmp_path / "served"
    root.mkdir()
    return root


@pytest.fixture
def http_url(http_root: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Base URL of a real HTTP server on 127.0.0.1 (a free port) serving `http_root`."""
    for name in (
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ):
        monkeypatch.delenv(name, raising=False)
    handler = functools.partial(_Handler, directory=str(http_root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _prepare_via_api(api: httpx.Client, folder: Path, rows: int, seed: int) -> str:
    """Uploads `rows` generated listings through the API and preprocesses them; the prepared id."""
    x, y = write_challenge_files(folder, rows, seed)
    with x.open("rb") as xf, y.open("rb") as yf:
        uploaded = api.post("/datasets", files={"x": xf, "y": yf})
    assert uploaded.status_code == 201, uploaded.text
    dataset = uploaded.json()["dataset_id"]
    prepared = api.post(f"/datasets/{dataset}/preprocess", json={"test": 0.15})
    assert prepared.status_code == 201, prepared.text
    return str(prepared.json()["prepared_id"])


@pytest.fixture(scope="session")
def prepare_via_api() -> Callable[[httpx.Client, Path, int, int], str]:
    return _prepare_via_api


@contextlib.contextmanager
def api_client(app: Any) -> Iterator[httpx.Client]:
    """A client of `app` served for real by uvicorn on 127.0.0.1 (a free port)."""
    from prodcat_data.api.server import serve_in_thread

    with (
        serve_in_thread(app) as url,
        httpx.Client(base_url=url, timeout=60, trust_env=False) as client,
    ):
        yield client

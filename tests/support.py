"""Helpers of the cross-service tests: the real `prodcat` CLI as a process, an isolated set of
stores per test, and a real MLflow tracking server on 127.0.0.1."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
BIN = Path(sys.executable).parent
PRODCAT = BIN / "prodcat"

# Small models keep each training run to a few seconds.
SMALL_MODEL = ["--set", "word_max_features=20000", "--set", "char_max_features=20000"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Workspace:
    """A folder with every store of the platform, and the env that points the stages at it."""

    root: Path
    env: dict[str, str]

    def run(
        self, *args: str, check: bool = True, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [str(PRODCAT), *args],
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and done.returncode != 0:
            raise AssertionError(
                f"prodcat {' '.join(args)} exited {done.returncode}\n{done.stdout}\n{done.stderr}"
            )
        return done


def make_workspace(root: Path, tracking_uri: str | None = None) -> Workspace:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATA_", "TRAIN_", "EVALUATE_", "PREDICT_", "MLFLOW_"))
    }
    env |= {
        "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        "PRODCAT_LOG_FORMAT": "json",
        "MLFLOW_TRACKING_URI": tracking_uri or f"sqlite:///{root / 'mlruns.db'}",
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
    }
    return Workspace(root, env)


class MlflowServer:
    """`mlflow server` on 127.0.0.1 over a store that outlives restarts: SQLite, or the database
    at `backend_store_uri` (Postgres)."""

    def __init__(self, root: Path, backend_store_uri: str | None = None) -> None:
        self.root = root
        self.backend_store_uri = backend_store_uri or f"sqlite:///{root / 'mlflow.db'}"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self) -> None:
        mlflow = shutil.which("mlflow", path=str(BIN)) or str(BIN / "mlflow")
        self._log = (self.root / "server.log").open("ab")
        self.process = subprocess.Popen(
            [
                mlflow, "server", "--host", "127.0.0.1", "--port", str(self.port),
                "--backend-store-uri", self.backend_store_uri,
                "--artifacts-destination", str(self.root / "artifacts"),
                "--workers", "1",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError((self.root / "server.log").read_text())
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise RuntimeError("mlflow server did not become healthy in 90 s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None


def stalled_request(url: str, head: bytes, wait_s: float = 30.0) -> bytes:
    """A slow client: sends `head` (part of a request, maybe nothing) to the server at `url`,
    then nothing more; returns what the server answers before it closes (an empty answer after
    `wait_s` fails the caller's test with a timeout)."""
    parsed = httpx.URL(url)
    with socket.create_connection((parsed.host, parsed.port or 80)) as sock:
        sock.sendall(head)
        sock.settimeout(wait_s)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def rendered_offline(url: str, timeout_s: float = 120.0) -> str:
    """The DOM of the page at `url` once its scripts ran, in headless Chromium (Debian's
    `chromium`) that can resolve no host name: only what the server at 127.0.0.1 serves loads."""
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        done = subprocess.run(
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",  # tests may run as root
                "--disable-gpu",
                "--no-first-run",
                f"--user-data-dir={profile}",
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",  # no DNS: no CDN
                "--virtual-time-budget=15000",
                "--dump-dom",
                url,
            ],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


class PostgresCluster:
    """A throwaway Postgres cluster (Debian's `postgresql` binaries: initdb, pg_ctl) in a private
    folder, listening on 127.0.0.1 and a free port, trusting local connections. As root, it runs
    as the `postgres` user, since Postgres refuses to run as root."""

    def __init__(self) -> None:
        found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
        if not found:
            pytest.skip("Postgres is not installed (Debian: apt-get install postgresql)")
        self.bin = found[-1].parent
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="prodcat-pg-"))
        self.data = self.folder / "data"
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            self.as_user = ["runuser", "-u", "postgres", "--"]
            shutil.chown(self.folder, "postgres", "postgres")

    def _run(self, *argv: str) -> None:
        done = subprocess.run(
            [*self.as_user, *argv], capture_output=True, text=True, timeout=120, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed:\n{done.stdout}\n{done.stderr}")

    def start(self) -> None:
        self._run(
            str(self.bin / "initdb"), "-D", str(self.data), "-U", "prodcat",
            "--auth=trust", "--encoding=UTF8", "--no-sync",
        )  # fmt: skip
        options = f"-h 127.0.0.1 -p {self.port} -k {self.folder} -F"
        log = self.folder / "server.log"
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(log), "-o", options,
            "-w", "start",
        )  # fmt: skip

    def create_database(self, name: str) -> str:
        """A new database; its SQLAlchemy URL (psycopg 3)."""
        import psycopg

        with psycopg.connect(self.url("postgres").replace("+psycopg", ""), autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://prodcat@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        try:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> PostgresCluster:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

"""Fixtures of the predictor's tests: one real model per session (synthetic data → import →
preprocess → train, through the CLI), and real servers (`prodcat predict serve` in a subprocess)
on 127.0.0.1 and a free port."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

PRODCAT = str(Path(sys.executable).with_name("prodcat"))
MODEL_NAME = "prodcat"
START_TIMEOUT_S = 90.0


def _clean_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PREDICT_", "DATA_", "TRAIN_", "PRODCAT_", "MLFLOW_", "PROMETHEUS_"))
    }
    env.update(extra)
    return env


def run_cli(*args: str, env: dict[str, str], cwd: Path) -> str:
    done = subprocess.run(
        [PRODCAT, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=300
    )
    if done.returncode != 0:
        raise AssertionError(
            f"prodcat {' '.join(args)} exited {done.returncode}\n{done.stdout}\n{done.stderr}"
        )
    return done.stdout


@dataclass(frozen=True)
class BuiltModel:
    root: Path
    artifact: Path
    env: dict[str, str]  # what the CLI needs to find the stores and the tracking store


@pytest.fixture(scope="session")
def built_model(tmp_path_factory: pytest.TempPathFactory) -> BuiltModel:
    root = tmp_path_factory.mktemp("predict")
    env = _clean_env(
        DATA_DATASETS_DIR=str(root / "datasets"),
        DATA_PREPARED_DIR=str(root / "prepared"),
        TRAIN_PREPARED_DIR=str(root / "prepared"),
        TRAIN_MODELS_DIR=str(root / "models"),
        TRAIN_ARTIFACTS_DIR=str(root / "mlartifacts"),
        PREDICT_MODELS_DIR=str(root / "models"),
        MLFLOW_TRACKING_URI=f"sqlite:///{root / 'mlruns.db'}",
    )
    raw = root / "raw"
    run_cli(
        "data", "generate", "--out", str(raw), "--rows", "600", "--seed", "7", env=env, cwd=root
    )
    run_cli(
        "data", "import", "--x", str(raw / "X_train_update.csv"),
        "--y", str(raw / "Y_train_CVw08PX.csv"), env=env, cwd=root,
    )  # fmt: skip
    run_cli("data", "preprocess", env=env, cwd=root)
    out = run_cli(
        "train", "--set", "word_max_features=20000", "--set", "char_max_features=20000",
        env=env, cwd=root,
    )  # fmt: skip
    match = re.search(r"-> (\S+)", out)
    assert match, out
    return BuiltModel(root, Path(match.group(1)), env)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def listening_hosts(port: int) -> set[str]:
    """Local addresses with a listening TCP socket on `port` (from /proc/net/tcp{,6})."""
    hosts = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            addr, port_hex = local.split(":")
            if state != "0A" or int(port_hex, 16) != port:  # 0A = LISTEN
                continue
            raw = bytes.fromhex(addr)  # 32-bit words in host (little-endian) order
            words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
            family = socket.AF_INET if len(raw) == 4 else socket.AF_INET6
            hosts.add(socket.inet_ntop(family, words))
    return hosts


class Server:
    """`prodcat predict serve` in a subprocess, on 127.0.0.1."""

    def __init__(self, model: BuiltModel, log: Path, **settings: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        env = dict(model.env)
        env.update(
            PREDICT_HOST="127.0.0.1",
            PREDICT_HTTP_PORT=str(self.port),
            PREDICT_MODEL_SOURCE=str(model.artifact),
            PREDICT_MODEL_NAME=MODEL_NAME,
            PREDICT_GRACE_PERIOD_S="5",
        )
        env.update({f"PREDICT_{k.upper()}": v for k, v in settings.items()})
        self._log_file = log.open("w")
        self.proc = subprocess.Popen(
            [PRODCAT, "predict", "serve"],
            env=env,
            cwd=model.root,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"server exited {self.proc.returncode}:\n{self.log.read_text()}"
                )
            try:
                ready = httpx.get(f"{self.url}/v2/models/{MODEL_NAME}/ready", timeout=2.0)
                if ready.status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise AssertionError(f"server not ready in {START_TIMEOUT_S}s:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._log_file.close()


@pytest.fixture(scope="session")
def server(built_model: BuiltModel, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One worker, batching on with a wait long enough to catch concurrent requests, and small
    limits so that tests reach them cheaply."""
    srv = Server(
        built_model,
        tmp_path_factory.mktemp("logs") / "server.log",
        max_batch_wait_ms="30",
        max_batch_size="16",
        max_items="8",
        max_body_bytes="32768",
        max_text_chars="300",
        top_k="3",
    )
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def server_url(server: Server) -> str:
    return server.url


@pytest.fixture
def client(server_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server_url, timeout=30.0) as c:
        yield c


@pytest.fixture(scope="session")
def artifact(built_model: BuiltModel) -> Path:
    return built_model.artifact


@pytest.fixture(scope="session")
def cli_env(built_model: BuiltModel) -> dict[str, str]:
    return dict(built_model.env)


ServerFactory = Callable[..., str]


@pytest.fixture(scope="module")
def start_server(
    built_model: BuiltModel, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerFactory]:
    """Starts servers with PREDICT_* settings given as keywords; returns their URLs; stops them
    at the end of the module."""
    started: list[Server] = []

    def start(**settings: str) -> str:
        log = tmp_path_factory.mktemp("logs") / "server.log"
        srv = Server(built_model, log, **settings)
        started.append(srv)
        return srv.url

    yield start
    for srv in started:
        srv.stop()


@pytest.fixture(scope="session")
def pick_port() -> Callable[[], int]:
    return free_port


@pytest.fixture(scope="session")
def hosts_listening() -> Callable[[str], set[str]]:
    """Local addresses a server (given by URL) listens on."""
    return lambda url: listening_hosts(int(url.rsplit(":", 1)[1]))


Scrape = Callable[[str, str], dict[str, float]]


def _scrape(url: str, name: str) -> dict[str, float]:
    """Samples of one metric (by name prefix) on a server: {sample with labels: value}."""
    text = httpx.get(f"{url}/metrics", timeout=10.0).text
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith(name):
            key, _, value = line.rpartition(" ")
            out[key] = float(value)
    return out


@pytest.fixture(scope="session")
def scrape() -> Scrape:
    return _scrape


@pytest.fixture
def server_process(built_model: BuiltModel, tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Like `start_server`, but hands over the `Server` (for tests that signal or kill it)."""
    started: list[Server] = []

    def start(**settings: str) -> Server:
        srv = Server(built_model, tmp_path / f"server-{len(started)}.log", **settings)
        started.append(srv)
        return srv

    yield start
    for srv in started:
        srv.stop()

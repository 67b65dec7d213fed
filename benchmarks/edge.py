"""Benchmark: the data API's edge under abuse, each guard on and off side by side in one run.

`prodcat data serve` runs as a process on 127.0.0.1 (its own temporary stores) with the guard at
its default, then with it relaxed to what the API did before (no body limit, no header deadline,
no run limit):

- bodies: six parallel 100 MB `POST /runs` (declared with Content-Length, and streamed chunked);
  statuses, seconds, the API's RSS before, at its peak and after.
- slow clients: 50 connections that send half a request line and stop; how many the server still
  holds open after 2 x the header deadline, and whether a normal request is served meanwhile.
- runs: six `POST /runs` within a second; runs started, refused, and `prodcat` processes alive.

Prints a table; writes benchmarks/results/edge.json.

    .venv/bin/python benchmarks/edge.py [--body-mb 100]
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import psutil
from common import print_table, write_json

PRODCAT = str(Path(sys.executable).parent / "prodcat")
HEADER_DEADLINE_S = 2.0
CHUNK = 1 << 20


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Api:
    """`prodcat data serve` in a fresh folder with the given DATA_* settings."""

    def __init__(self, workdir: Path, settings: dict[str, str]) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DATA_", "MLFLOW_"))}
        env |= {f"DATA_{k.upper()}": v for k, v in settings.items()}
        env["PRODCAT_LOG_LEVEL"] = "WARNING"
        self.log = (workdir / f"api-{self.port}.log").open("wb")
        self.process = psutil.Popen(
            [PRODCAT, "data", "serve", "--port", str(self.port)],
            cwd=workdir,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError(f"the API did not start: see {self.log.name}")

    def rss_mb(self) -> float:
        return float(self.process.memory_info().rss) / 2**20

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=30)
        self.log.close()


class PeakRss:
    """Samples the API's RSS every 20 ms while the block runs."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.peak = api.rss_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self.api.rss_mb())

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def big_body(size: int) -> bytes:
    head = b'{"kind": "train", "prepared_id": "pp-000000000000", "params": {"pad": "'
    return head + b"x" * (size - len(head) - 3) + b'"}}'


def post_big(url: str, body: bytes, chunked: bool) -> str:
    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), CHUNK):
            yield body[start : start + CHUNK]

    try:
        response = httpx.post(
            f"{url}/runs",
            content=chunks() if chunked else body,
            headers={"content-type": "application/json"},
            timeout=300,
        )
    except httpx.HTTPError as e:
        return type(e).__name__
    return str(response.status_code)


def bodies_case(api: Api, guard: str, body_mb: int, chunked: bool) -> dict[str, Any]:
    body = big_body(body_mb << 20)
    before = api.rss_mb()
    started = time.perf_counter()
    with PeakRss(api) as peak, ThreadPoolExecutor(max_workers=6) as pool:
        statuses = list(pool.map(lambda _: post_big(api.url, body, chunked), range(6)))
    seconds = time.perf_counter() - started
    time.sleep(1.0)
    return {
        "case": f"6 x {body_mb} MB POST /runs ({'chunked' if chunked else 'Content-Length'})",
        "guard": guard,
        "statuses": " ".join(sorted(statuses)),
        "seconds": seconds,
        "rss_before_mb": before,
        "rss_peak_mb": peak.peak,
        "rss_after_mb": api.rss_mb(),
    }


def slow_clients_case(api: Api, guard: str, connections: int = 50) -> dict[str, Any]:
    socks = []
    for _ in range(connections):
        sock = socket.create_connection(("127.0.0.1", api.port))
        sock.sendall(b"GET /health HTT")  # and nothing more
        socks.append(sock)
    served = httpx.get(f"{api.url}/health", timeout=10).status_code
    time.sleep(2 * HEADER_DEADLINE_S + 1)
    still_open = 0
    for sock in socks:
        sock.settimeout(0.2)
        try:
            data = sock.recv(65536)
            still_open += 0 if data == b"" or data.startswith(b"HTTP/1.1 408") else 1
        except TimeoutError:
            still_open += 1  # nothing sent, not closed
        except OSError:
            pass
        sock.close()
    return {
        "case": f"{connections} clients stop mid request line",
        "guard": guard,
        "statuses": f"normal request meanwhile: {served}",
        "still_open_after_s": 2 * HEADER_DEADLINE_S + 1,
        "still_open": still_open,
    }


def prepare(api: Api, workdir: Path) -> str:
    from prodcat_data.synthetic import write_challenge_files

    x, y = write_challenge_files(workdir / "raw", 400, 5)
    with x.open("rb") as xf, y.open("rb") as yf:
        uploaded = httpx.post(f"{api.url}/datasets", files={"x": xf, "y": yf}, timeout=120)
    uploaded.raise_for_status()
    dataset = uploaded.json()["dataset_id"]
    prepared = httpx.post(f"{api.url}/datasets/{dataset}/preprocess", timeout=120)
    prepared.raise_for_status()
    return str(prepared.json()["prepared_id"])


def run_processes(workdir: Path) -> list[psutil.Process]:
    """The processes of this API's runs (detached from it: they work in its folder)."""
    found = []
    for process in psutil.process_iter(["cwd", "cmdline"]):
        cwd, cmdline = process.info["cwd"], process.info["cmdline"] or []
        if cwd and Path(cwd).is_relative_to(workdir) and process.pid != os.getpid():
            found += [process] if any("prodcat" in part for part in cmdline[:3]) else []
    return [p for p in found if "serve" not in p.info["cmdline"]]


def runs_case(api: Api, guard: str, prepared_id: str) -> dict[str, Any]:
    def post(i: int) -> httpx.Response:
        body = {"kind": "train", "prepared_id": prepared_id, "params": {"c": 0.1 + i}}
        return httpx.post(f"{api.url}/runs", json=body, timeout=60)

    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(post, range(6)))
    time.sleep(1.0)
    processes = run_processes(api.workdir)
    started = [a.json()["id"] for a in answers if a.status_code == 201]
    for run_id in started:
        httpx.post(f"{api.url}/runs/{run_id}/cancel", timeout=60)
    return {
        "case": "6 POST /runs within a second",
        "guard": guard,
        "statuses": " ".join(sorted(str(a.status_code) for a in answers)),
        "runs_started": len(started),
        "run_processes": len(processes),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--body-mb", type=int, default=100)
    args = parser.parse_args()
    rows: list[dict[str, Any]] = []
    relaxed = {
        "max_body_bytes": str(8 << 30),
        "header_timeout_s": "1000000",
        "max_active_runs": "1000",
    }
    guarded = {"header_timeout_s": str(HEADER_DEADLINE_S)}
    with tempfile.TemporaryDirectory(prefix="bench-edge-") as tmp:
        for guard, settings in (("on", guarded), ("off", relaxed)):
            workdir = Path(tmp) / guard
            workdir.mkdir()
            api = Api(workdir, settings | {"reconcile_interval_s": "1"})
            try:
                for chunked in (False, True):
                    rows.append(bodies_case(api, guard, args.body_mb, chunked))
                rows.append(slow_clients_case(api, guard))
                rows.append(runs_case(api, guard, prepare(api, workdir)))
            finally:
                api.stop()
    rows.sort(key=lambda r: (r["case"], r["guard"]))
    print_table(
        rows,
        [
            "case",
            "guard",
            "statuses",
            "seconds",
            "rss_before_mb",
            "rss_peak_mb",
            "rss_after_mb",
            "still_open",
            "runs_started",
            "run_processes",
        ],
    )
    path = write_json("edge", {"body_mb": args.body_mb, "rows": rows})
    print(f"\nwrote {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")


if __name__ == "__main__":
    main()

"""Serving an app with uvicorn in a thread of this process, on 127.0.0.1 and a free port: for
tests and for embedding the API in another program. `prodcat data serve` is the real entrypoint."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI

from prodcat_core.errors import UnavailableError
from prodcat_core.slow_clients import guarded_http
from prodcat_data.config import DataSettings


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def uvicorn_options(settings: DataSettings) -> dict[str, Any]:
    """What every uvicorn serving the data API is given: no `server` header, a deadline for
    request headers (slow clients), an idle timeout between requests."""
    return {
        "ws": "none",
        "lifespan": "on",
        "server_header": False,
        "http": guarded_http(settings.header_timeout_s),
        "timeout_keep_alive": 5,
    }


def settings_under(root: Path, **overrides: object) -> DataSettings:
    """Settings whose stores, run folders and tracking store all live under `root`, with local
    runs working there: a self-contained API (tests, a demo)."""
    values: dict[str, object] = {
        "datasets_dir": root / "data" / "datasets",
        "prepared_dir": root / "data" / "prepared",
        "runs_dir": root / "data" / "runs",
        "models_dir": root / "models" / "artifacts",
        "artifacts_dir": root / "mlartifacts",
        "tracking_uri": f"sqlite:///{root / 'mlruns.db'}",
        "runs_workdir": root,
        "feedback_dir": root / "data" / "feedback",
        "monitoring_dir": root / "monitoring",
    }
    values.update(overrides)
    return DataSettings.model_validate(values)


@contextlib.contextmanager
def serve_in_thread(
    app: FastAPI,
    host: str = "127.0.0.1",
    port: int | None = None,
    timeout_s: float = 60.0,
    settings: DataSettings | None = None,
) -> Iterator[str]:
    """Runs `app` until the block ends (lifespan included); yields its base URL. `settings`
    give the server's own options (header deadline), as `prodcat data serve` uses them."""
    chosen = port or free_port(host)
    options = uvicorn_options(settings or DataSettings())
    config = uvicorn.Config(
        app, host=host, port=chosen, log_config=None, access_log=False, **options
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{chosen}", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            thread.join(timeout=10)
            raise UnavailableError(f"the API did not start on {host}:{chosen}")
        time.sleep(0.05)
    try:
        yield f"http://{host}:{chosen}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)

"""The inference log of a real server: every answer names its listing, the log never slows or
fails a request (a full queue or a broken sink drops and counts), and kill -9 leaves only whole
Parquet files."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pyarrow.parquet as pq
import pytest

from prodcat_core.inference_log import list_log_files, read_inference_log
from prodcat_core.reference_profile import ReferenceProfile

Scrape = Callable[[str, str], dict[str, float]]
ServerFactory = Callable[..., str]

PRODUCTS = "/v1/products:classify"
V1 = "/v1/models/prodcat:predict"
V2 = "/v2/models/prodcat/infer"
METRIC = "prodcat_predictor_inference_log"


def _listings(n: int, offset: int = 0) -> list[dict[str, str]]:
    return [
        {"designation": f"Lot de {offset + i} chaussettes bébé", "description": "coton bio"}
        for i in range(n)
    ]


def _hammer(url: str, requests: int, per_request: int, workers: int = 8) -> list[int]:
    def one(i: int) -> int:
        body = _listings(per_request, i * per_request)
        return httpx.post(f"{url}{PRODUCTS}", json=body, timeout=60.0).status_code

    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(one, range(requests)))


def _counts(scrape: Scrape, url: str) -> tuple[float, float, float]:
    """(written, dropped queue_full, dropped write_error)."""
    records = scrape(url, f"{METRIC}_records_total")
    dropped = scrape(url, f"{METRIC}_dropped_total")
    return (
        records.get(f"{METRIC}_records_total", 0.0),
        dropped.get(f'{METRIC}_dropped_total{{reason="queue_full"}}', 0.0),
        dropped.get(f'{METRIC}_dropped_total{{reason="write_error"}}', 0.0),
    )


def _settled(scrape: Scrape, url: str, sent: int) -> tuple[float, float, float]:
    """The counters once every listing sent is accounted for (written or dropped)."""
    deadline = time.monotonic() + 30
    counts = _counts(scrape, url)
    while sum(counts) < sent and time.monotonic() < deadline:
        time.sleep(0.2)
        counts = _counts(scrape, url)
    return counts


def test_every_route_answers_with_a_listing_id(
    start_server: ServerFactory, tmp_path: Path, artifact: Path, scrape: Scrape
) -> None:
    log = tmp_path / "log"
    url = start_server(inference_log_uri=str(log), inference_log_rotate_seconds="0.2")
    ids = []
    answer = httpx.post(f"{url}{PRODUCTS}", json=_listings(2), timeout=30)
    ids += [p["listing_id"] for p in answer.json()["predictions"]]
    answer = httpx.post(f"{url}{V1}", json={"instances": ["Console de jeux"]}, timeout=30)
    ids += [p["listing_id"] for p in answer.json()["predictions"]]
    body = {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [2], "data": ["a b", "c"]}]}
    outputs = {
        o["name"]: o for o in httpx.post(f"{url}{V2}", json=body, timeout=30).json()["outputs"]
    }
    ids += outputs["listing_id"]["data"]
    assert len(ids) == len(set(ids)) == 5
    assert all(isinstance(i, str) and len(i) == 32 for i in ids)
    assert _settled(scrape, url, 5)[0] == 5
    rows = read_inference_log(str(log)).to_pylist()
    assert {r["listing_id"] for r in rows} == set(ids)
    assert {r["model_id"] for r in rows} == {artifact.name}
    assert all(r["latency_ms"] > 0 and r["text"] for r in rows)
    profile = ReferenceProfile.load(artifact)
    assert profile is not None
    shares = scrape(url, "prodcat_predictor_reference_class_share")
    assert len(shares) == len(profile.class_shares)
    assert sum(shares.values()) == pytest.approx(1.0)


def test_a_full_queue_drops_and_counts_and_every_request_succeeds(
    start_server: ServerFactory, tmp_path: Path, scrape: Scrape
) -> None:
    url = start_server(
        inference_log_uri=str(tmp_path / "log"),
        inference_log_queue="1",
        inference_log_rotate_seconds="0.2",
    )
    statuses = _hammer(url, requests=40, per_request=32)
    assert statuses == [200] * 40
    written, full, errors = _settled(scrape, url, 40 * 32)
    assert full > 0  # 32 records arrive at once; the queue holds one
    assert written + full + errors == 40 * 32  # nothing vanished without being counted


def test_a_broken_sink_counts_write_errors_and_every_request_succeeds(
    start_server: ServerFactory, tmp_path: Path, scrape: Scrape
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("where the log's folder should be", encoding="utf-8")
    url = start_server(inference_log_uri=str(blocker / "log"), inference_log_rotate_seconds="0.1")
    assert _hammer(url, requests=10, per_request=8) == [200] * 10
    written, _, errors = _settled(scrape, url, 80)
    assert written == 0
    assert errors == 80
    health = httpx.get(f"{url}/v2/health/ready", timeout=10)
    assert health.status_code == 200


def test_kill_9_leaves_only_whole_files(server_process: Callable[..., Any], tmp_path: Path) -> None:
    log = tmp_path / "log"
    server = server_process(inference_log_uri=str(log), inference_log_rotate_seconds="0.05")
    stop = threading.Event()
    answered: set[str] = set()

    def traffic() -> None:
        with httpx.Client(timeout=30) as client:
            i = 0
            while not stop.is_set():
                try:
                    answer = client.post(f"{server.url}{PRODUCTS}", json=_listings(16, i))
                except httpx.HTTPError:
                    return  # the server is gone
                answered.update(p["listing_id"] for p in answer.json()["predictions"])
                i += 16

    threads = [threading.Thread(target=traffic) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        deadline = time.monotonic() + 30
        while len(list_log_files(str(log))) < 5 and time.monotonic() < deadline:
            time.sleep(0.1)
        server.proc.kill()  # SIGKILL, mid-traffic, while files are being written
        server.proc.wait(timeout=30)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
    files = list_log_files(str(log))
    assert len(files) >= 5
    for f in files:
        pq.read_table(f)  # each one whole: a torn file fails here
    partial = [p for p in log.rglob("*") if p.is_file() and p.name.startswith(".")]
    assert all(p.name.startswith(".tmp-part-") for p in partial)
    logged = read_inference_log(str(log), columns=["listing_id"]).column("listing_id").to_pylist()
    assert len(logged) == len(set(logged)) > 0
    assert set(logged) <= answered


def test_each_worker_writes_its_own_files_and_sigterm_flushes_them(
    server_process: Callable[..., Any], tmp_path: Path
) -> None:
    log = tmp_path / "log"
    server = server_process(
        workers="2", inference_log_uri=str(log), inference_log_rotate_seconds="3600"
    )
    statuses = _hammer(server.url, requests=60, per_request=4)
    assert statuses == [200] * 60
    assert list_log_files(str(log)) == []  # nothing due yet: the buffers wait for rotation
    server.stop()  # SIGTERM: each worker writes what it holds as it exits
    assert read_inference_log(str(log)).num_rows == 60 * 4
    writers = {Path(f).name.rsplit("-", 1)[0] for f in list_log_files(str(log))}
    assert 1 <= len(writers) <= 2  # one writer per worker that answered

"""A lean closed-loop HTTP/1.1 load generator for benchmarks/serve.py.

The load generator shares the machine with the server it measures, so it should cost little.
Each of `concurrency` keep-alive connections writes pre-encoded requests and reads the answers
with asyncio streams on uvloop (status line, Content-Length or chunked body, nothing else): about
0.1-0.16 ms of CPU per request on 2 cores, against 0.7 ms for the predictor's event loop
(getrusage and /proc, transformer, c=8).

    closed_loop("http://127.0.0.1:8080/v1/products:classify", bodies, concurrency=8, seconds=3)
"""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import uvloop

WARMUP_S = 0.5
TIMEOUT_S = 30.0


class HttpError(Exception):
    """The server answered something this client cannot read."""


def encode_requests(url: str, bodies: list[bytes]) -> list[bytes]:
    """One `POST` per JSON body, ready to write on a keep-alive connection."""
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    head = (
        f"POST {target} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        "Content-Type: application/json\r\nAccept: application/json\r\n"
    )
    return [f"{head}Content-Length: {len(b)}\r\n\r\n".encode("ascii") + b for b in bodies]


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One response's status code and body (Content-Length or chunked)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    try:
        status = int(lines[0].split(" ", 2)[1])
    except (IndexError, ValueError) as e:
        raise HttpError(f"bad status line {lines[0]!r}") from e
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        return status, await reader.readexactly(int(headers["content-length"]))
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = bytearray()
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            body += await reader.readexactly(size)
            await reader.readexactly(2)
        await reader.readuntil(b"\r\n")  # the empty trailer
        return status, bytes(body)
    raise HttpError("a response with neither Content-Length nor chunked encoding")


async def _closed_loop(
    url: str, bodies: list[bytes], concurrency: int, seconds: float
) -> dict[str, Any]:
    requests = encode_requests(url, bodies)
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    latencies: list[float] = []
    errors = 0
    measuring = False
    stop_at = time.perf_counter() + WARMUP_S + seconds

    async def worker(offset: int) -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, port)
        try:
            for request in itertools.islice(itertools.cycle(requests), offset, None):
                if time.perf_counter() >= stop_at:
                    return
                started = time.perf_counter()
                writer.write(request)
                status, _ = await asyncio.wait_for(read_response(reader), TIMEOUT_S)
                if measuring:
                    latencies.append(time.perf_counter() - started)
                    errors += status != 200
        finally:
            writer.close()

    async def start_measuring() -> float:
        nonlocal measuring
        await asyncio.sleep(WARMUP_S)
        measuring = True
        return time.perf_counter()

    measuring_from = asyncio.create_task(start_measuring())
    await asyncio.gather(*(worker(i * 37) for i in range(concurrency)))
    elapsed = time.perf_counter() - await measuring_from
    return {
        "concurrency": concurrency,
        "req_per_s": len(latencies) / elapsed,
        "listings_per_s": len(latencies) / elapsed,
        "p50_ms": float(np.percentile(latencies, 50)) * 1000 if latencies else None,
        "p99_ms": float(np.percentile(latencies, 99)) * 1000 if latencies else None,
        "errors": errors,
    }


def closed_loop(url: str, bodies: list[bytes], concurrency: int, seconds: float) -> dict[str, Any]:
    """`concurrency` clients each send one body per request, the next as soon as the last is
    answered, for `seconds` after a short warm-up: req/s, p50 and p99 latency, non-200 count."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(_closed_loop(url, bodies, concurrency, seconds))

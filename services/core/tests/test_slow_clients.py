"""Slow clients against a real uvicorn on 127.0.0.1 with the guarded protocol and the body read
timeout: headers or a body that stall get a 408 and a closed connection; prompt ones are served."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn

from prodcat_core.asgi import Receive, Scope, Send
from prodcat_core.slow_clients import BodyReadTimeout, guarded_http

DEADLINE_S = 0.5


async def echo(scope: Scope, receive: Receive, send: Send) -> None:
    """Answers with the request's body, read to the end."""
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body", False):
            break
    headers = [(b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        chosen = int(probe.getsockname()[1])
    config = uvicorn.Config(
        BodyReadTimeout(echo, timeout_s=DEADLINE_S),
        host="127.0.0.1",
        port=chosen,
        http=guarded_http(DEADLINE_S),
        lifespan="off",
        log_config=None,
        server_header=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    yield chosen
    server.should_exit = True
    thread.join(timeout=10)


def read_all(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes (the test fails if it never does)."""
    sock.settimeout(20 * DEADLINE_S)
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def read_one_response(sock: socket.socket) -> bytes:
    """One whole response on a kept-alive connection: the headers, then Content-Length bytes
    (TCP may deliver them in separate segments, so one recv is not enough)."""
    sock.settimeout(20 * DEADLINE_S)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed mid-headers: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed mid-body: {data!r}"
        body += chunk
    return head + b"\r\n\r\n" + body


def test_a_connection_that_sends_nothing_is_closed_with_408(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b"request headers did not arrive" in answer


def test_headers_sent_a_byte_at_a_time_are_cut_off(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        for byte in b"GET / HTTP/1.1\r\nHost: x\r\n":
            try:
                sock.sendall(bytes([byte]))
            except OSError:  # closed on us: that is the point
                break
            time.sleep(DEADLINE_S / 5)
        answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 408 ")


def test_a_stalled_body_gets_408(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
        answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b"the request body stalled" in answer
    assert b"connection: close" in answer.lower()


def test_prompt_requests_are_served_and_keep_alive_is_guarded_too(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        for _ in range(2):
            sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
            answer = read_one_response(sock)
            assert answer.startswith(b"HTTP/1.1 200 ")
            assert answer.endswith(b"\r\n\r\nhello")
            assert b"server:" not in answer.lower()
        sock.sendall(b"GET / HTTP/1.1\r\n")  # a second request that never finishes its headers
        assert read_all(sock).startswith(b"HTTP/1.1 408 ")

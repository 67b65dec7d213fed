"""Both HTTP servers' defence against slow clients, which uvicorn has none of: its keep-alive
timeout only runs between requests, so a client that sends a request's headers (or its body) a
byte at a time holds a connection, and a server slot, for as long as it likes.

- `guarded_http(header_timeout_s)`: uvicorn's httptools protocol with a deadline for the request
  line and headers, from the connection's start or a request's first byte; past it the server
  answers 408 and closes.
- `BodyReadTimeout`: an ASGI middleware that bounds each wait for the next piece of the body
  (not the whole body: a large upload from a client that keeps sending is fine); past it, 408.

Neither costs anything per request beyond one timer."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from typing import Any, cast

from starlette.exceptions import HTTPException
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from prodcat_core.asgi import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger(__name__)

HEADER_TIMEOUT_S = 10.0
BODY_TIMEOUT_S = 30.0


def _json_408(message: str) -> tuple[list[tuple[bytes, bytes]], bytes]:
    body = json.dumps({"error": message}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    return headers, body


class HeaderDeadlineProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, closing connections whose headers come too slowly."""

    def __init__(self, *args: Any, header_timeout_s: float = HEADER_TIMEOUT_S, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.header_timeout_s = header_timeout_s
        self._header_timer: asyncio.TimerHandle | None = None

    def _arm(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout_s, self._too_slow)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _too_slow(self) -> None:
        self._header_timer = None
        if self.transport.is_closing():
            return
        logger.info(
            "closed a connection from %s: no complete request headers within %.0f s",
            self.client,
            self.header_timeout_s,
        )
        if self.cycle is None or self.cycle.response_complete:  # not in the middle of an answer
            headers, body = _json_408(
                f"the request headers did not arrive within {self.header_timeout_s:g} s"
            )
            lines = b"".join(name + b": " + value + b"\r\n" for name, value in headers)
            self.transport.write(b"HTTP/1.1 408 Request Timeout\r\n" + lines + b"\r\n" + body)
        self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()  # a connection that sends nothing at all is slow too

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()


def guarded_http(header_timeout_s: float = HEADER_TIMEOUT_S) -> type[asyncio.Protocol]:
    """The `http` of a uvicorn Config: a picklable factory (uvicorn's worker processes get it)
    that uvicorn calls like a protocol class."""
    factory = functools.partial(HeaderDeadlineProtocol, header_timeout_s=header_timeout_s)
    return cast(type[asyncio.Protocol], factory)


class BodyTooSlowError(HTTPException):
    """An HTTPException, so that FastAPI, which turns other errors raised while it reads a body
    into a 400, lets it through to the app's handler, which answers 408."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__(408, f"the request body stalled: nothing arrived for {timeout_s:g} s")


class BodyReadTimeout:
    """Answers 408 when a client leaves the app waiting `timeout_s` for the next body chunk."""

    def __init__(self, app: ASGIApp, *, timeout_s: float = BODY_TIMEOUT_S) -> None:
        self.app = app
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def bounded() -> Message:
            try:
                return await asyncio.wait_for(receive(), self.timeout_s)
            except TimeoutError as e:
                logger.info(
                    "%s %s: the body stalled for %.0f s; answering 408",
                    scope.get("method"),
                    scope.get("path"),
                    self.timeout_s,
                )
                raise BodyTooSlowError(self.timeout_s) from e

        started = False

        async def tracking(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, bounded, tracking)
        except BodyTooSlowError as e:  # a layer outside the app's own handlers read the body
            if started:
                raise
            headers, body = _json_408(str(e.detail))
            await send({"type": "http.response.start", "status": 408, "headers": headers})
            await send({"type": "http.response.body", "body": body})

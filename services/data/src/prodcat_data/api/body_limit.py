"""The size limit of every request body the data API buffers (JSON routes), enforced before the
body is read: a Content-Length over the limit is refused at once, and a body streamed without one
is counted as it arrives and refused as soon as it goes over. Routes that stream their body to
disk under their own limit (the upload) are named and left to that limit.

A pure ASGI middleware, so it sits in front of FastAPI's own reading of the body."""

from __future__ import annotations

import json
from collections.abc import Collection

from starlette.exceptions import HTTPException

from prodcat_core.asgi import ASGIApp, Message, Receive, Scope, Send


def _content_length(scope: Scope) -> str | None:
    for key, value in scope.get("headers", ()):
        if bytes(key).lower() == b"content-length":
            return bytes(value).decode("latin-1").strip()
    return None


async def _send_413(send: Send, message: str) -> None:
    body = json.dumps({"error": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),  # the rest of the body is never read
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodyLimit:
    """Refuses (413) any request body over `max_bytes`, except on the `streamed` routes, given
    as (method, path) pairs, which enforce their own limit while they write to disk."""

    def __init__(
        self, app: ASGIApp, *, max_bytes: int, streamed: Collection[tuple[str, str]] = ()
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.streamed = frozenset(streamed)

    def _message(self, size: int | None) -> str:
        what = f"the body is {size} bytes" if size is not None else "the body is too large"
        return f"{what}; the limit of this route is {self.max_bytes} bytes"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or (scope.get("method", ""), scope.get("path", "")) in self.streamed
        ):
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await _send_413(send, self._message(int(declared)))
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    # FastAPI lets an HTTPException raised while reading the body through to the
                    # app's handler, which answers 413 {"error": …}; nothing was buffered past it.
                    raise HTTPException(413, self._message(None))
            return message

        await self.app(scope, counted, send)

"""The status-watching ASGI send shared by the data API and the predictor."""

from __future__ import annotations

import asyncio

from prodcat_core.asgi import Message, StatusWatch


def test_status_watch_passes_messages_on_and_keeps_the_status() -> None:
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    watch = StatusWatch(send)
    assert watch.status == 500  # nothing answered yet: what a crash before the answer gives
    start = {"type": "http.response.start", "status": 204, "headers": []}
    body = {"type": "http.response.body", "body": b""}
    asyncio.run(watch(start))
    asyncio.run(watch(body))
    assert watch.status == 204
    assert sent == [start, body]

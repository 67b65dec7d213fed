"""The outermost layer of the app: request metrics, and the checks every inference route needs
before any JSON is parsed (content type 415, body size 413, UTF-8 400; a body with no
Content-Type is JSON), and the early overload refusal (503 from Content-Length and the admitted
work, before the body is read or parsed: see admission.py).

A pure ASGI middleware: it reads the body once (stopping as soon as it is over the limit, and
before reading anything when Content-Length already says so) and hands it on unchanged."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import orjson

from prodcat_core.asgi import ASGIApp, Message, Receive, Scope, Send, StatusWatch
from prodcat_predict.admission import BODY_BYTES, Admission
from prodcat_predict.errors import error_response
from prodcat_predict.metrics import process_metrics, status_class
from prodcat_predict.oip import HEADER_LENGTH

_ROUTES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"/v1/models/[^/]+:predict"), "v1_predict"),
    (re.compile(r"/v2/models/[^/]+(?:/versions/[^/]+)?/infer"), "v2_infer"),
    (re.compile(r"/v1/products:classify"), "classify"),
    (re.compile(r"/metrics"), "metrics"),
    (
        re.compile(
            r"/|/v2/health/(?:live|ready)|/v1/models/[^/:]+|/v2/models/[^/]+(?:/versions/[^/]+)?/ready"
        ),
        "health",
    ),
    (
        re.compile(
            r"/v2|/v1/models|/v2/models(?:/[^/]+(?:/versions/[^/]+)?)?|/openapi\.json|/docs"
        ),
        "metadata",
    ),
)
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
INFERENCE_ROUTES = frozenset({"v1_predict", "v2_infer", "classify"})


def route_of(path: str) -> str:
    """The route label of a path: one of metrics.ROUTES, never the path itself."""
    for pattern, name in _ROUTES:
        if pattern.fullmatch(path):
            return name
    return "other"


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


def _media_type(content_type: str) -> tuple[str, str | None]:
    media, _, params = content_type.partition(";")
    charset = None
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            charset = value.strip().strip('"').lower()
    return media.strip().lower(), charset


def _is_json(media: str) -> bool:
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


class RequestLimits:
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        blocked_prefixes: tuple[str, ...] = (),
        admission: Callable[[], Admission | None] = lambda: None,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.blocked_prefixes = blocked_prefixes
        self.admission = admission

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route = route_of(scope.get("path", ""))
        started = time.perf_counter()
        send_and_watch = StatusWatch(send)
        try:
            if scope.get("path", "").startswith(self.blocked_prefixes):
                await error_response(404, "this route is disabled on the predictor")(
                    scope, receive, send_and_watch
                )
                return
            if route in INFERENCE_ROUTES and scope.get("method") == "POST":
                if _header(scope, b"content-type") is None:  # JSON, for FastAPI as for us
                    headers = [*scope.get("headers", ()), (b"content-type", b"application/json")]
                    scope = {**scope, "headers": headers}
                refused = self._early_refusal(scope)
                if refused is not None:
                    await refused(scope, receive, send_and_watch)
                    return
                checked = await self._read_checked_body(scope, receive, route)
                if isinstance(checked, tuple):
                    code, message = checked
                    await error_response(code, message)(scope, receive, send_and_watch)
                    return
                receive = checked
            await self.app(scope, receive, send_and_watch)
        finally:
            m = process_metrics()
            m.requests.labels(route=route).inc()
            m.request_seconds.labels(route=route).observe(time.perf_counter() - started)
            cls = status_class(send_and_watch.status)
            if cls is not None:
                m.errors.labels(route=route, status_class=cls).inc()

    def _early_refusal(self, scope: Scope) -> ASGIApp | None:
        """A 503 decided from Content-Length and the admitted work, before any body is read."""
        admission = self.admission()
        declared = _header(scope, b"content-length")
        if admission is None or declared is None or not declared.strip().isdigit():
            return None
        reason = admission.refusal_for_body(int(declared))
        if reason is None:
            return None
        process_metrics().rejected.labels(reason="queue_full").inc()
        retry = str(admission.retry_after_s)
        return error_response(503, reason, {"Retry-After": retry})

    async def _read_checked_body(
        self, scope: Scope, receive: Receive, route: str
    ) -> tuple[int, str] | Receive:
        """Either (status, message) to refuse with, or a `receive` that replays the body."""
        # No Content-Type is JSON (the Open Inference Protocol does not require the header, and
        # tritonclient sends none); V2's binary extension is marked by its own header.
        content_type = _header(scope, b"content-type") or "application/json"
        media, charset = _media_type(content_type)
        binary_v2 = route == "v2_infer" and (
            media == "application/octet-stream"
            or _header(scope, HEADER_LENGTH.encode("ascii")) is not None
        )
        if not (_is_json(media) or binary_v2):
            return (
                415,
                f"Content-Type {media!r} is not supported: send the body as application/json",
            )
        if charset is not None and charset not in ("utf-8", "utf8"):
            return 415, f"charset {charset!r} is not supported: send UTF-8"
        declared = _header(scope, b"content-length")
        if (
            declared is not None
            and declared.strip().isdigit()
            and int(declared) > self.max_body_bytes
        ):
            return 413, f"the body is {int(declared)} bytes; the limit is {self.max_body_bytes}"
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return 413, f"the body is over the limit of {self.max_body_bytes} bytes"
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        BODY_BYTES.set(len(body))  # for admission's estimate of a body's cost
        if not binary_v2:
            try:
                body.decode("utf-8")
            except UnicodeDecodeError as e:
                return 400, f"the body is not valid UTF-8 (byte {e.start}): send UTF-8 JSON"
            # A lone surrogate escape ("\ud800") is no Unicode text: every route refuses it
            # alike (Python's json takes it, orjson does not). Parsed only when one may be there.
            if _SURROGATE_ESCAPE.search(body):
                try:
                    orjson.loads(body)
                except orjson.JSONDecodeError as e:
                    return 400, f"the body is not valid JSON text: {e}"
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return replay

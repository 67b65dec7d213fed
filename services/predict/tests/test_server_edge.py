"""The predictor's edge, served for real by `prodcat predict serve`: no `server` header, and a
408 for clients whose headers or body stall (uvicorn alone would wait for ever)."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from tests.support import rendered_offline, stalled_request

MODEL_NAME = "prodcat"  # conftest's
ServerFactory = Callable[..., str]
TIMEOUT_S = 1.0


@pytest.fixture(scope="module")
def edge_url(start_server: ServerFactory) -> str:
    return start_server(header_timeout_s=str(TIMEOUT_S), body_timeout_s=str(TIMEOUT_S))


@pytest.mark.parametrize(
    ("head", "message"),
    [
        (b"", b"headers did not arrive"),
        (b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n", b"headers did not arrive"),
        (
            f"POST /v2/models/{MODEL_NAME}/infer HTTP/1.1\r\nHost: x\r\n"
            "Content-Type: application/json\r\nContent-Length: 200\r\n\r\n"
            '{"inputs": ['.encode(),
            b"the request body stalled",
        ),
    ],
)
def test_a_stalled_request_gets_408(edge_url: str, head: bytes, message: bytes) -> None:
    answer = stalled_request(edge_url, head, 30 * TIMEOUT_S)
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:300]
    assert message in answer


def test_the_docs_page_works_without_a_network(edge_url: str) -> None:
    html = httpx.get(f"{edge_url}/docs").text
    assert "cdn.jsdelivr.net" not in html
    dom = rendered_offline(f"{edge_url}/docs")
    assert "/v1/products:classify" in dom  # the operations, listed by Swagger UI's script
    assert "/v2/models/{model_name}/infer" in dom


def test_no_server_header(edge_url: str) -> None:
    response = httpx.get(f"{edge_url}/v2/health/live")
    assert response.status_code == 200
    assert "server" not in response.headers

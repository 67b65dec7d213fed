"""Schemathesis over every operation of the predictor's OpenAPI, against the real server: whatever
it sends (data that fits the schema, and data that does not, including random bodies with and
without V2's binary-extension header), the server never answers 5xx, and its answers match the
documented status codes and schemas. Then hypothesis on the binary extension itself: well-formed
JSON headers with random sizes, shapes and bytes after them.

The strategies are built inside the tests (schemathesis' `from_fixture` does not run under this
pytest version), from the server's own /openapi.json."""

from __future__ import annotations

import json
import struct
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from prodcat_predict.oip import HEADER_LENGTH

from .conftest import MODEL_NAME

pytestmark = pytest.mark.slow

# Every operation the predictor documents; a new one fails the first test until it is listed.
OPERATIONS = [
    ("GET", "/metrics"),
    ("GET", "/"),
    ("GET", "/v1/models"),
    ("GET", "/v1/models/{model_name}"),
    ("POST", "/v1/models/{model_name}:predict"),
    ("GET", "/v2"),
    ("GET", "/v2/health/live"),
    ("GET", "/v2/health/ready"),
    ("GET", "/v2/models"),
    ("GET", "/v2/models/{model_name}"),
    ("GET", "/v2/models/{model_name}/ready"),
    ("POST", "/v2/models/{model_name}/infer"),
    ("GET", "/v2/models/{model_name}/versions/{model_version}"),
    ("GET", "/v2/models/{model_name}/versions/{model_version}/ready"),
    ("POST", "/v2/models/{model_name}/versions/{model_version}/infer"),
    ("POST", "/v1/products:classify"),
]
EXAMPLES = {"POST": 300, "GET": 60}
SETTINGS = settings(
    deadline=None, database=None, suppress_health_check=list(HealthCheck), derandomize=True
)


def test_the_documented_operations_are_the_listed_ones(server_url: str) -> None:
    schema = schemathesis.openapi.from_url(f"{server_url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    found = [(op.method.upper(), op.path) for op in operations]
    assert sorted(found) == sorted(OPERATIONS)


# Data that does not fit the schema: for the operations that take a body (the GET routes' only
# inputs are plain string path segments, which nothing can make invalid).
CASES = [(m, p, GenerationMode.POSITIVE) for m, p in OPERATIONS] + [
    (m, p, GenerationMode.NEGATIVE) for m, p in OPERATIONS if m == "POST"
]


@pytest.mark.parametrize(
    ("method", "path", "mode"), CASES, ids=[f"{m} {p} {g.value}" for m, p, g in CASES]
)
def test_no_operation_fails_on_the_server_side(
    server_url: str, method: str, path: str, mode: GenerationMode
) -> None:
    schema = schemathesis.openapi.from_url(f"{server_url}/openapi.json")
    operation = schema[path][method]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(SETTINGS, max_examples=EXAMPLES[method])
    def check(case: Any) -> None:
        if (
            "model_name" in (case.path_parameters or {})
            and case.path_parameters["model_name"] == ""
        ):
            return  # an empty path segment is another route
        case.call_and_validate(
            checks=[not_a_server_error, status_code_conformance, response_schema_conformance]
        )

    check()


def _length_prefixed(texts: list[bytes]) -> bytes:
    return b"".join(struct.pack("<I", len(t)) + t for t in texts)


binary_requests = st.tuples(
    st.lists(st.binary(max_size=40), max_size=6),  # the texts sent
    st.one_of(st.none(), st.integers(-5, 400)),  # binary_data_size (None: the true one)
    st.lists(st.integers(0, 8), max_size=3),  # shape
    st.sampled_from(["BYTES", "FP32", "INT64", "BOOL"]),
    st.binary(max_size=12),  # bytes flipped into the tensor data / trailing garbage
    st.integers(-3, 3),  # error added to the header length
)


def test_binary_extension_requests_never_fail_on_the_server_side(server_url: str) -> None:
    url = f"{server_url}/v2/models/{MODEL_NAME}/infer"

    @given(binary_requests)
    @settings(SETTINGS, max_examples=400)
    def check(request: tuple[list[bytes], int | None, list[int], str, bytes, int]) -> None:
        texts, size, shape, datatype, noise, length_error = request
        raw = _length_prefixed(texts)
        if noise:
            raw = raw[: len(raw) // 2] + noise + raw[len(raw) // 2 :]
        header = json.dumps(
            {
                "inputs": [
                    {
                        "name": "text",
                        "datatype": datatype,
                        "shape": shape,
                        "parameters": {"binary_data_size": len(raw) if size is None else size},
                    }
                ]
            }
        ).encode()
        length = max(0, len(header) + length_error)
        response = client.post(url, content=header + raw, headers={HEADER_LENGTH: str(length)})
        assert response.status_code < 500, response.text
        if response.status_code != 200:
            assert "error" in response.json()

    with httpx.Client(timeout=30.0) as client:
        check()

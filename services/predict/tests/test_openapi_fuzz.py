"""Schemathesis over the product route's OpenAPI, against the real server: whatever it sends
(data that fits the schema, and data that does not), the server never answers 5xx and its answers
match the documented schemas and status codes.

The strategy is built inside the test (schemathesis' `from_fixture` does not run under this
pytest version), from the server's own /openapi.json."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_the_product_route_never_fails_on_the_server_side(
    server_url: str, mode: GenerationMode
) -> None:
    schema = schemathesis.openapi.from_url(f"{server_url}/openapi.json")
    operation = schema["/v1/products:classify"]["POST"]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=50, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    def check(case: Any) -> None:
        case.call_and_validate(
            checks=[not_a_server_error, status_code_conformance, response_schema_conformance]
        )

    check()

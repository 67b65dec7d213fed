"""Property-based requests from the API's own OpenAPI document (schemathesis) against the real
app on 127.0.0.1: no request, however odd, gets a 5xx, and answers match the document.

The stores are empty, so no generated request can start a process: a run needs an existing
prepared dataset (404 otherwise), a retrain run a dataset, a monitor run a registered model version
and a promotion an existing registry version; retraining on alerts is off."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from prodcat_data.api.app import create_app
from prodcat_data.api.server import serve_in_thread, settings_under
from prodcat_data.config import DataSettings


@pytest.fixture(scope="module")
def api_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root: Path = tmp_path_factory.mktemp("schemathesis")
    config = settings_under(root, max_file_bytes=100_000, download_timeout_s=2.0)
    with serve_in_thread(create_app(config)) as url:
        yield url


# The document the served app publishes (an app object builds it without starting anything).
# Not `schemathesis.pytest.from_fixture`: its lazy mode breaks on pytest 9 (`_nodeid`).
schema = schemathesis.openapi.from_dict(create_app(DataSettings()).openapi())


@schema.parametrize()
@settings(
    max_examples=300,  # several hundred per operation (issue 16): about 1.5 min on 2 cores
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_api_conforms_to_its_openapi(case: schemathesis.Case[Any], api_url: str) -> None:
    # Every check but "schema-valid requests are accepted": a file can match the document (any
    # bytes) and still not be a CSV, a URL can be well formed and point nowhere; those are 4xx.
    case.call_and_validate(
        base_url=api_url, excluded_checks=[schemathesis.checks.positive_data_acceptance]
    )

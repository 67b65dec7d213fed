"""Benchmark results are committed: they must not name the machine's paths."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.support import REPO

RESULTS = sorted((REPO / "benchmarks" / "results").glob("*.json"))


def load_common() -> ModuleType:
    """benchmarks/common.py as the scripts import it (they run as scripts, not a package)."""
    spec = importlib.util.spec_from_file_location("bench_common", REPO / "benchmarks/common.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def absolute_paths(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [p for item in value.values() for p in absolute_paths(item)]
    if isinstance(value, list):
        return [p for item in value for p in absolute_paths(item)]
    return [value] if isinstance(value, str) and value.startswith("/") else []


@pytest.mark.parametrize("path", RESULTS, ids=[p.name for p in RESULTS])
def test_committed_results_hold_relative_paths_only(path: Path) -> None:
    assert absolute_paths(json.loads(path.read_text(encoding="utf-8"))) == []


def test_results_are_written_with_paths_relative_to_the_repository() -> None:
    common = load_common()
    payload = {
        "data_source": str(REPO.parent / "shared" / "data" / "rakuten-sample"),
        "runs": [{"model": REPO / "models" / "artifacts" / "m-1"}],
        "note": "kept as it is",
        "rows": 3,
    }
    assert common.portable(payload) == {
        "data_source": "../shared/data/rakuten-sample",
        "runs": [{"model": "models/artifacts/m-1"}],
        "note": "kept as it is",
        "rows": 3,
    }

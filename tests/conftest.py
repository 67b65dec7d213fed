"""Fixtures of the cross-service tests (helpers in tests/support.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import SHARED, MlflowServer, Workspace, make_workspace


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    return make_workspace(tmp_path)


@pytest.fixture(scope="session")
def synthetic_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """1,500 generated listings in the challenge's format (SYNTHETIC)."""
    from prodcat_data.synthetic import write_challenge_files

    return write_challenge_files(tmp_path_factory.mktemp("raw"), 1500, seed=7)


@pytest.fixture
def shared_sample() -> tuple[Path, Path]:
    x = SHARED / "data" / "rakuten-sample" / "X_train_sample.csv"
    y = SHARED / "data" / "rakuten-sample" / "Y_train_sample.csv"
    if not (x.is_file() and y.is_file()):
        pytest.skip(f"the real sample is absent: {x.parent} (optional input from ../shared)")
    return x, y


@pytest.fixture
def mlflow_server(tmp_path: Path) -> Iterator[MlflowServer]:
    server = MlflowServer(tmp_path / "mlflow")
    server.root.mkdir()
    server.start()
    try:
        yield server
    finally:
        server.stop()

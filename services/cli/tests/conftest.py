"""Fixtures of the CLI's tests: a throwaway stage installed through a real entry point, and the
root logger put back after `main` configured it."""

from __future__ import annotations

import logging
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

THROWAWAY_MODULE = "prodcat_throwaway_stage"

_STAGE_SOURCE = '''
import typer

from prodcat_core.errors import ConflictError, InvalidInputError, NotFoundError, UnavailableError

ERRORS = {
    "invalid": InvalidInputError("X_train_update.csv: row 3 (id 1002): designation is empty"),
    "not-found": NotFoundError("dataset ds-0123456789ab not found in data/datasets"),
    "conflict": ConflictError("run r-1 already started"),
    "unavailable": UnavailableError("http://mlflow:5000: MLflow is unreachable"),
}


def register(app: typer.Typer) -> None:
    stage = typer.Typer(help="Throwaway stage of the CLI tests.", no_args_is_help=True)

    @stage.command()
    def ok() -> None:
        """Succeeds."""
        typer.echo("throwaway done")

    @stage.command()
    def cpus() -> None:
        """Prints the CPUs the stages plan their threads for."""
        from prodcat_core.cpus import available_cpus

        typer.echo(f"cpus {available_cpus()}")

    @stage.command("exit")
    def exit_(code: int) -> None:
        """Ends with typer.Exit(code), as a stage that reports a verdict by its exit code."""
        raise typer.Exit(code)

    @stage.command()
    def abort() -> None:
        """Aborts, as a confirmation prompt answered no does."""
        raise typer.Abort()

    @stage.command()
    def interrupt() -> None:
        """Ctrl-C."""
        raise KeyboardInterrupt

    @stage.command()
    def fail(kind: str) -> None:
        """Raises the error named by kind."""
        if kind in ERRORS:
            raise ERRORS[kind]
        raise RuntimeError(f"boom {kind}")

    app.add_typer(stage, name="throwaway")
'''


@pytest.fixture
def throwaway_stage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Installs a stage `throwaway` in the `prodcat.commands` entry-point group: a module and a
    dist-info folder on sys.path, found by importlib.metadata as any installed stage is."""
    site = tmp_path / "site"
    dist_info = site / "prodcat_throwaway_stage-0.0.0.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: prodcat-throwaway-stage\nVersion: 0.0.0\n", encoding="utf-8"
    )
    (dist_info / "entry_points.txt").write_text(
        f"[prodcat.commands]\nthrowaway = {THROWAWAY_MODULE}:register\n", encoding="utf-8"
    )
    (site / f"{THROWAWAY_MODULE}.py").write_text(textwrap.dedent(_STAGE_SOURCE), encoding="utf-8")
    monkeypatch.syspath_prepend(str(site))
    yield "throwaway"
    sys.modules.pop(THROWAWAY_MODULE, None)


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)

"""`prodcat`'s entrypoint: stages from entry points, and errors -> one line and an exit code."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from prodcat_cli.main import build_app, main, run
from prodcat_core.cpus import available_cpus, declare_cpus
from prodcat_core.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PayloadTooLargeError,
    ProdcatError,
    UnavailableError,
)

STAGES = ("data", "train", "evaluate", "summary", "predict")

# Loading the train stage imports mlflow.pyfunc, whose own loaders warn about their `Any` type
# hints at import; that is MLflow's to change, not a failure of the CLI.
pytestmark = pytest.mark.filterwarnings(
    r"ignore:.*Any type hint is inferred as AnyType:UserWarning"
)


def _commands(help_text: str) -> set[str]:
    section = help_text.split("Commands:", 1)[1]
    return {line.split()[0] for line in section.splitlines() if line.startswith("  ")}


def test_help_lists_the_installed_stages(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Usage: prodcat ")
    assert set(STAGES) <= _commands(out)


def test_a_stage_installed_through_an_entry_point_is_registered(
    throwaway_stage: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--help"]) == 0
    assert {throwaway_stage, *STAGES} <= _commands(capsys.readouterr().out)
    assert main([throwaway_stage, "ok"]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip().endswith("throwaway done")
    assert captured.err == ""


@pytest.fixture
def undeclared_cpus() -> Iterator[None]:
    yield
    declare_cpus(None)  # `main` declares for the whole process, as the entrypoint does


def test_the_pods_cpus_from_the_environment_plan_every_stage(
    throwaway_stage: str,
    undeclared_cpus: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The chart sets PRODCAT_CPUS from the pod's CPU limit or request: a 1-CPU pod on a bigger
    node plans for 1 CPU, whatever the node's cores."""
    monkeypatch.setenv("PRODCAT_CPUS", "1")
    assert main([throwaway_stage, "cpus"]) == 0
    assert capsys.readouterr().out.strip() == "cpus 1"
    monkeypatch.delenv("PRODCAT_CPUS")
    assert main([throwaway_stage, "cpus"]) == 0
    assert capsys.readouterr().out.strip() == f"cpus {available_cpus()}"
    monkeypatch.setenv("PRODCAT_CPUS", "0")
    assert main([throwaway_stage, "cpus"]) == 1  # a broken value is not silently ignored


def test_build_app_returns_a_fresh_app_each_time() -> None:
    assert build_app() is not build_app()


@pytest.mark.parametrize(
    ("kind", "code", "message"),
    [
        ("invalid", 2, "X_train_update.csv: row 3 (id 1002): designation is empty"),
        ("not-found", 2, "dataset ds-0123456789ab not found in data/datasets"),
        ("conflict", 2, "run r-1 already started"),
        ("unavailable", 1, "http://mlflow:5000: MLflow is unreachable"),
    ],
)
def test_a_prodcat_error_is_one_line_and_its_exit_code(
    throwaway_stage: str,
    capsys: pytest.CaptureFixture[str],
    kind: str,
    code: int,
    message: str,
) -> None:
    assert main(["--log-format", "json", throwaway_stage, "fail", kind]) == code
    captured = capsys.readouterr()
    assert captured.err == f"error: {message}\n"
    logged = [json.loads(line) for line in captured.out.splitlines()]
    assert logged[-1]["level"] == "error"
    assert logged[-1]["message"] == message
    assert "Traceback" not in captured.out  # an expected error needs no traceback


def test_an_unexpected_exception_exits_1_with_its_traceback_logged(
    throwaway_stage: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--log-format", "json", throwaway_stage, "fail", "other"]) == 1
    captured = capsys.readouterr()
    assert captured.err == "error: unexpected RuntimeError: boom other\n"
    (record,) = [json.loads(line) for line in captured.out.splitlines()]
    assert record["message"] == "stage failed"
    assert "RuntimeError: boom other" in record["exception"]
    assert "Traceback" in record["exception"]


def test_the_error_classes_carry_their_exit_codes() -> None:
    assert InvalidInputError("x").exit_code == 2
    assert NotFoundError("x").exit_code == 2
    assert ConflictError("x").exit_code == 2
    assert PayloadTooLargeError("x").exit_code == 2
    assert isinstance(PayloadTooLargeError("x"), InvalidInputError)
    assert UnavailableError("x").exit_code == 1
    assert ProdcatError("x").exit_code == 1
    assert (InvalidInputError("x").status_code, PayloadTooLargeError("x").status_code) == (400, 413)


def test_a_real_stage_with_bad_input_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATA_DATASETS_DIR", str(tmp_path / "datasets"))
    absent = tmp_path / "absent" / "X_train_update.csv"
    assert main(["data", "import", "--x", str(absent), "--y", str(absent)]) == 2
    assert capsys.readouterr().err == f"error: {absent}: no such file\n"
    assert main(["data", "show", "../../etc"]) == 2
    assert capsys.readouterr().err == (
        "error: '../../etc' is not a dataset id (expected ds- and 12 hex digits)\n"
    )
    assert not (tmp_path / "datasets").exists()


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["no-such-stage"], "No such command 'no-such-stage'"),
        (["data", "import"], "Missing"),  # required options missing
        (["data", "import", "--x", "a.csv", "--y", "b.csv", "--z"], "No such option"),
        (["--log-format", "xml", "data", "list"], "must be text or json"),
    ],
)
def test_usage_errors_exit_2_without_a_traceback(
    argv: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert says in captured.err
    assert "unexpected" not in captured.err
    assert "Traceback" not in captured.out + captured.err


def test_no_arguments_shows_the_help(capsys: pytest.CaptureFixture[str]) -> None:
    code = main([])
    captured = capsys.readouterr()
    assert "Usage: prodcat" in captured.out + captured.err
    assert "unexpected" not in captured.err
    assert "Traceback" not in captured.out + captured.err
    assert code in (0, 2)


@pytest.mark.parametrize("code", [0, 1, 3])
def test_a_stage_exit_code_is_kept(
    throwaway_stage: str, capsys: pytest.CaptureFixture[str], code: int
) -> None:
    """`raise typer.Exit(n)` is how a stage ends with a verdict (e.g. `runs start --wait` on a
    failed run); main must return n, not 0."""
    assert main([throwaway_stage, "exit", str(code)]) == code
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("how", ["abort", "interrupt"])
def test_abort_and_ctrl_c_exit_130(
    throwaway_stage: str, capsys: pytest.CaptureFixture[str], how: str
) -> None:
    assert main([throwaway_stage, how]) == 130
    captured = capsys.readouterr()
    assert "unexpected" not in captured.err
    assert "Traceback" not in captured.out + captured.err


def test_run_exits_with_mains_code(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["prodcat", "data", "show", "ds-0123456789ab"])
    with pytest.raises(SystemExit) as info:
        run()
    assert info.value.code == 2
    assert capsys.readouterr().err.startswith("error: dataset ds-0123456789ab not found")


def test_building_the_cli_loads_no_heavy_library() -> None:
    """`prodcat --help` and every command start by registering all the stages: those imports
    stay light (1.7 s -> 0.4 s when scikit-learn, pandas and FastAPI moved into the commands)."""
    heavy = ("sklearn", "pandas", "fastapi", "onnxruntime", "mlflow", "torch", "kserve", "scipy")
    code = (
        "import sys; from prodcat_cli.main import build_app; build_app(); "
        f"print(','.join(m for m in {heavy!r} if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == "", f"building the CLI imported {loaded}"

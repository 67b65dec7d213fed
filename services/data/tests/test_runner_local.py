"""LocalRunner with real processes of the `prodcat` CLI: success, failure, cancel, a run whose
process vanished (lost), and state read by a runner that did not start the run (an API restart).
Also how a finished run's output becomes its outcome."""

from __future__ import annotations

import json
import os
import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil
import pytest

from prodcat_data.api.server import free_port
from prodcat_data.runners.base import Observed, RunRef, extract_outcome, stage_args
from prodcat_data.runners.local import LocalRunner, absolute_store_uri, tail_lines
from prodcat_data.runners.supervise import EXIT_FILE, PROCESS_FILE

NOW = datetime.now(UTC)


def wait_for(
    runner: LocalRunner, ref: RunRef, states: tuple[str, ...], timeout_s: float = 60
) -> Observed:
    deadline = time.monotonic() + timeout_s
    while True:
        observed = runner.status(ref)
        if observed.state in states or time.monotonic() > deadline:
            return observed
        time.sleep(0.2)


@pytest.fixture
def runner(tmp_path: Path) -> LocalRunner:
    env = {
        "DATA_DATASETS_DIR": str(tmp_path / "datasets"),
        "DATA_PREPARED_DIR": str(tmp_path / "pp"),
    }
    return LocalRunner(tmp_path / "runs", env=env, workdir=tmp_path)


def start(runner: LocalRunner, run_id: str, args: list[str]) -> RunRef:
    handle = runner.start(run_id, "train", args)
    return RunRef(run_id, "train", handle, datetime.now(UTC))


def test_a_run_that_exits_0_succeeded_with_its_log(runner: LocalRunner) -> None:
    ref = start(runner, "r-000000000001", ["data", "list"])
    observed = wait_for(runner, ref, ("succeeded", "failed"))
    assert observed.state == "succeeded", runner.logs_tail(ref, 20)
    assert observed.exit_code == 0
    assert observed.started_at is not None
    assert observed.finished_at is not None
    assert observed.started_at <= observed.finished_at


def test_a_run_that_exits_2_failed_with_the_reason(runner: LocalRunner) -> None:
    ref = start(runner, "r-000000000002", ["data", "show", "ds-000000000000"])
    observed = wait_for(runner, ref, ("succeeded", "failed"))
    assert observed.state == "failed"
    assert observed.exit_code == 2
    assert observed.reason == "the stage exited with code 2 (bad input)"
    assert any("not found" in line for line in runner.logs_tail(ref, 20))


def test_cancel_stops_the_process_group(runner: LocalRunner, tmp_path: Path) -> None:
    # `prodcat data serve` runs until stopped: a stand-in for a long training.
    ref = start(runner, "r-000000000003", ["data", "serve", "--port", str(free_port())])
    assert wait_for(runner, ref, ("running",)).state == "running"
    info = json.loads((tmp_path / "runs" / ref.run_id / PROCESS_FILE).read_text())
    supervisor = psutil.Process(info["pid"])
    children = supervisor.children(recursive=True)
    assert children, "the stage runs under the supervisor"

    runner.cancel(ref)
    observed = wait_for(runner, ref, ("cancelled", "failed", "succeeded"), timeout_s=30)
    assert observed.state == "cancelled"
    assert observed.reason == "the stage was stopped by signal SIGTERM"
    _, alive = psutil.wait_procs([supervisor, *children], timeout=10)
    assert not alive
    runner.cancel(ref)  # already gone: not an error


def test_a_run_is_seen_by_a_runner_that_did_not_start_it(
    runner: LocalRunner, tmp_path: Path
) -> None:
    """What an API restarted mid-run sees: state from the run folder, not from memory."""
    ref = start(runner, "r-000000000004", ["data", "list"])
    other = LocalRunner(tmp_path / "runs")
    observed = wait_for(other, ref, ("succeeded", "failed"))
    assert observed.state == "succeeded"
    wait_for(runner, ref, ("succeeded",))  # reaps the process


def test_a_run_whose_process_vanished_is_lost(runner: LocalRunner, tmp_path: Path) -> None:
    folder = tmp_path / "runs" / "r-000000000005"
    folder.mkdir(parents=True)
    # A pid that existed once: this test's own process, with another start time.
    me = psutil.Process()
    (folder / PROCESS_FILE).write_text(
        json.dumps(
            {"pid": me.pid, "create_time": me.create_time() - 1000, "started_at": NOW.isoformat()}
        )
    )
    ref = RunRef("r-000000000005", "train", str(me.pid), NOW - timedelta(minutes=5))
    observed = runner.status(ref)
    assert observed.state == "failed"
    assert (observed.reason or "").startswith("lost")


def test_a_run_killed_with_its_supervisor_is_lost(runner: LocalRunner, tmp_path: Path) -> None:
    ref = start(runner, "r-000000000006", ["data", "serve", "--port", str(free_port())])
    assert wait_for(runner, ref, ("running",)).state == "running"
    pid = json.loads((tmp_path / "runs" / ref.run_id / PROCESS_FILE).read_text())["pid"]
    os.killpg(pid, signal.SIGKILL)  # the machine's OOM killer, say: no exit status is written
    observed = wait_for(runner, ref, ("failed", "succeeded", "cancelled"), timeout_s=30)
    assert observed.state == "failed"
    assert (observed.reason or "").startswith("lost")
    assert not (tmp_path / "runs" / ref.run_id / EXIT_FILE).exists()


def test_a_new_run_is_pending_until_its_process_shows(runner: LocalRunner) -> None:
    assert (
        runner.status(RunRef("r-000000000007", "train", None, datetime.now(UTC))).state == "pending"
    )


def test_run_ids_are_never_paths(runner: LocalRunner) -> None:
    with pytest.raises(Exception, match="not a run id"):
        runner.start("../x", "train", ["data", "list"])


def test_tail_lines(tmp_path: Path) -> None:
    log = tmp_path / "run.log"
    log.write_text("".join(f"line {i}\n" for i in range(10_000)))
    assert tail_lines(log, 3) == ["line 9997", "line 9998", "line 9999"]
    assert tail_lines(log, 3, max_bytes=20) == ["line 9998", "line 9999"]
    assert tail_lines(tmp_path / "missing.log", 3) == []


def test_absolute_store_uri(tmp_path: Path) -> None:
    assert absolute_store_uri("sqlite:///mlruns.db") == f"sqlite:///{Path('mlruns.db').resolve()}"
    assert absolute_store_uri("sqlite:////abs/mlruns.db") == "sqlite:////abs/mlruns.db"
    assert absolute_store_uri("http://mlflow:5000") == "http://mlflow:5000"


# Arguments and outcomes ------------------------------------------------------------------------


def test_stage_args() -> None:
    params = {"c": 0.3, "word_ngrams": [1, 2], "class_weight": "1"}
    assert stage_args("train", "pp-3f2a9c0d1e4b", family="linear", params=params) == [
        "train", "--prepared", "pp-3f2a9c0d1e4b", "--family", "linear",
        "--set", 'c=0.3', "--set", 'class_weight="1"', "--set", "word_ngrams=[1,2]",
    ]  # fmt: skip
    assert stage_args("evaluate", "pp-3f2a9c0d1e4b", model="models:/prodcat/3", promote=True) == [
        "evaluate", "--model", "models:/prodcat/3", "--prepared", "pp-3f2a9c0d1e4b", "--promote",
    ]  # fmt: skip


TRAIN_OUTPUT = [
    json.dumps(
        {
            "time": "2025-01-01T10:00:00+00:00",
            "level": "info",
            "logger": "prodcat_train.training",
            "message": "training linear",
            "model_id": "m-9cc71ad458a5",
        }
    ),
    "trained m-9cc71ad458a5 (linear) in 0.6s: validation weighted F1 0.8120, macro F1 0.7698 "
    "-> /x/models/artifacts/m-9cc71ad458a5",
    "MLflow run 217b8114447e40aaaade1c00f2793120; registered as version 4 (challenger)",
]

EVALUATE_OUTPUT = [
    json.dumps(
        {
            "level": "info",
            "logger": "prodcat_core.registry",
            "message": "version 4 is now the champion (promoted …)",
        }
    ),
    "dataset    ds-31667d1d1fba -> prepared pp-7dd21f09f6bc",
    "model      m-9cc71ad458a5 (linear, registry version 4) at models:/prodcat/4",
    "test       weighted F1 0.8370  macro F1 0.7743  accuracy 0.8426  ECE 0.064  (223 rows, "
    "0.010 ms/item)",
    "holdout    weighted F1 0.7817  macro F1 0.7520  accuracy 0.7917  ECE 0.121  (72 rows, "
    "0.020 ms/item)",
    "champion   version 3 (m-0123456789ab): test weighted F1 0.8010",
    "gate       promoted weighted F1 0.8370 >= champion 0.8010 + margin 0.0000",
    "report     results/ev-9fd194a74eec/report.json, confusion matrix "
    "results/ev-9fd194a74eec/confusion_matrix.png",
]


def test_outcome_of_a_train_run() -> None:
    assert extract_outcome("train", TRAIN_OUTPUT) == {
        "model_id": "m-9cc71ad458a5",
        "mlflow_run_id": "217b8114447e40aaaade1c00f2793120",
        "registry_version": "4",
        "metrics": {"val_weighted_f1": 0.812, "val_macro_f1": 0.7698},
    }


def test_outcome_of_an_evaluate_run() -> None:
    outcome = extract_outcome("evaluate", EVALUATE_OUTPUT)
    assert outcome["model_id"] == "m-9cc71ad458a5"
    assert outcome["registry_version"] == "4"
    assert outcome["evaluation_id"] == "ev-9fd194a74eec"
    assert outcome["promoted"] is True
    assert outcome["gate_passed"] is True
    assert outcome["gate"].startswith("promoted weighted F1 0.8370")
    assert outcome["metrics"]["test_weighted_f1"] == 0.837
    assert outcome["metrics"]["holdout_ece"] == 0.121


def test_a_gate_that_passed_without_promotion_enabled_is_not_a_promotion() -> None:
    lines = [line for line in EVALUATE_OUTPUT if "now the champion" not in line]
    outcome = extract_outcome("evaluate", lines)
    assert outcome["gate_passed"] is True
    assert outcome["promoted"] is False


def test_unknown_output_gives_an_empty_outcome() -> None:
    assert extract_outcome("train", ["{not json", "something else", ""]) == {}

"""The runner interface and what every runner shares: the stage arguments of a run, and how a
finished run's output is read back (model id, metrics, MLflow run)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from prodcat_data.runners.supervise import STEP_SEPARATOR
from prodcat_data.runs.models import RunKind, RunState


@dataclass(frozen=True)
class BatchArgs:
    input: str  # as the run's pods see it
    output: str
    shards: int


SHARD_COUNT_OPTION = "--shard-count"


def shard_count(args: list[str]) -> int:
    """The shard count of a batch run's arguments (1 when absent)."""
    if SHARD_COUNT_OPTION in args[:-1]:
        return int(args[args.index(SHARD_COUNT_OPTION) + 1])
    return 1


@dataclass(frozen=True)
class RunRef:
    """What a runner needs to find a run again, from any API replica and after a restart."""

    run_id: str
    kind: RunKind
    handle: str | None
    created_at: datetime


@dataclass(frozen=True)
class Observed:
    """A run's state as its runner sees it."""

    state: RunState
    reason: str | None = None
    exit_code: int | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    shards: dict[str, int] | None = None  # batch runs: total, completed and failed shards


class Runner(Protocol):
    name: str

    def start(self, run_id: str, kind: RunKind, args: list[str]) -> str:
        """Launches `prodcat <args>` for the run; returns its handle (pid or Job name)."""
        ...

    def status(self, ref: RunRef) -> Observed: ...

    def logs_tail(self, ref: RunRef, lines: int) -> list[str]: ...

    def cancel(self, ref: RunRef) -> None:
        """Stops the run; a run that is already gone is not an error."""
        ...


def join_steps(steps: list[list[str]]) -> list[str]:
    args: list[str] = []
    for step in steps:
        args += [STEP_SEPARATOR, *step] if args else step
    return args


def monitor_args(model: str, since: str, min_records: int | None = None) -> list[str]:
    """`prodcat monitor` over the last `since` of the inference log (settings from MONITOR_*)."""
    args = ["monitor", "--model", model, "--since", since]
    return args + (["--min-records", str(min_records)] if min_records is not None else [])


def retrain_args(
    dataset_id: str, family: str, params: Mapping[str, Any], *, promote: bool
) -> list[str]:
    """preprocess the dataset → train on what it prepared → evaluate the new model with the gate.
    Each step reads `latest`, which the step before set (one retraining runs at a time)."""
    return join_steps(
        [
            ["data", "preprocess", "--dataset", dataset_id],
            stage_args("train", "latest", family=family, params=params),
            stage_args("evaluate", "latest", model="latest", promote=promote),
        ]
    )


def stage_args(
    kind: RunKind,
    prepared_id: str,
    *,
    family: str | None = None,
    params: Mapping[str, Any] | None = None,
    model: str | None = None,
    promote: bool = False,
    batch: BatchArgs | None = None,
) -> list[str]:
    """The `prodcat` arguments of a run: the same for a local process and a Job's container.

    Parameter values are passed as JSON, which the train stage parses back exactly."""
    if kind == "batch":
        if batch is None or model is None:
            raise ValueError("a batch run needs its input, output, shards and model")
        return [
            "predict", "batch", "--input", batch.input, "--output", batch.output,
            "--model", model, "--shard-count", str(batch.shards),
        ]  # fmt: skip
    if kind == "train":
        args = ["train", "--prepared", prepared_id, "--family", family or "linear"]
        for key, value in sorted((params or {}).items()):
            args += ["--set", f"{key}={json.dumps(value, separators=(',', ':'))}"]
        return args
    return [
        "evaluate",
        "--model",
        model or "latest",
        "--prepared",
        prepared_id,
        "--promote" if promote else "--no-promote",
    ]


_MODEL_ID = re.compile(r"\bm-[0-9a-f]{12}\b")
_EVALUATION_ID = re.compile(r"\bev-[0-9a-f]{12}\b")
_TRAINED = re.compile(
    r"^trained (?P<model>m-[0-9a-f]{12}) .*validation weighted F1 (?P<wf1>[0-9.]+), "
    r"macro F1 (?P<mf1>[0-9.]+)"
)
_SPLIT = re.compile(
    r"^(?P<split>test|holdout)\s+weighted F1 (?P<wf1>[0-9.]+)\s+macro F1 (?P<mf1>[0-9.]+)\s+"
    r"accuracy (?P<acc>[0-9.]+)\s+ECE (?P<ece>[0-9.]+)"
)
_EVALUATED_MODEL = re.compile(
    r"^model\s+(?P<model>m-[0-9a-f]{12})\b(?:.*registry version (?P<version>[0-9]+))?"
)
_REGISTERED = re.compile(r"registered as version (?P<version>[0-9]+)")
# "passed, not promoted": the gate passed, promotion was off (--no-promote: approval required).
_GATE = re.compile(
    r"^gate\s+(?P<summary>(?P<verdict>promoted|not promoted|passed, not promoted)\b.*)$"
)
_NOW_CHAMPION = re.compile(r"^version (?P<version>[0-9]+) is now the champion\b")
_MLFLOW_RUN = re.compile(
    r"\bmlflow[ _]run[ _:=]*(?:id[ :=]*)?(?P<run>[0-9a-f]{32})\b", re.IGNORECASE
)
_MONITOR_ID = re.compile(r"\bmon-[0-9a-f]{12}\b")
_MONITOR_STATUS = re.compile(r"\bstatus[ :=]+(?P<status>ok|drift|not_enough_data|no_profile)\b")
_JSON_KEYS = ("model_id", "evaluation_id", "mlflow_run_id", "monitor_id")


def extract_outcome(kind: RunKind, lines: Iterable[str]) -> dict[str, Any]:
    """What a finished run reported, read from its output: the stage's summary lines and, with
    JSON logs, the ids bound to its records. Unknown lines are ignored."""
    outcome: dict[str, Any] = {}
    metrics: dict[str, float] = {}
    structured: dict[str, Any] = {}
    structured_metrics: dict[str, float] = {}
    training = kind in ("train", "retrain")
    evaluating = kind in ("evaluate", "retrain")
    for raw in lines:
        line = raw.strip()
        if line.startswith("{"):
            try:
                record = json.loads(line)
            except ValueError:
                record = None
            if isinstance(record, dict):
                for key in _JSON_KEYS:
                    if record.get(key) is not None:
                        outcome[key] = record[key]
                result = record.get("result")
                if isinstance(result, dict):  # the stage's own account: it wins
                    structured.update({k: v for k, v in result.items() if k != "metrics"})
                    structured_metrics.update(result.get("metrics") or {})
                    continue
                line = str(record.get("message", ""))
        if kind == "monitor":
            if (found_monitor := _MONITOR_ID.search(line)) and "monitor_id" not in outcome:
                outcome["monitor_id"] = found_monitor.group(0)
            if m := _MONITOR_STATUS.search(line):
                outcome["status"] = m["status"]
            continue
        if m := _TRAINED.match(line):
            outcome["model_id"] = m["model"]
            metrics.update(val_weighted_f1=float(m["wf1"]), val_macro_f1=float(m["mf1"]))
        elif m := _SPLIT.match(line):
            split = m["split"]
            metrics.update(
                {
                    f"{split}_weighted_f1": float(m["wf1"]),
                    f"{split}_macro_f1": float(m["mf1"]),
                    f"{split}_accuracy": float(m["acc"]),
                    f"{split}_ece": float(m["ece"]),
                }
            )
        elif evaluating and (m := _EVALUATED_MODEL.match(line)):
            outcome["model_id"] = m["model"]
            if m["version"]:
                outcome["registry_version"] = m["version"]
        elif evaluating and (m := _GATE.match(line)):
            outcome["gate"] = m["summary"]
            outcome["gate_passed"] = m["verdict"] in ("promoted", "passed, not promoted")
            outcome.setdefault("promoted", False)
        elif evaluating and _NOW_CHAMPION.match(line):
            outcome["promoted"] = True
        if training and (m := _REGISTERED.search(line)):
            outcome["registry_version"] = m["version"]
        found = _EVALUATION_ID.search(line) if line.startswith("report") else None
        if evaluating and found and "evaluation_id" not in outcome:
            outcome["evaluation_id"] = found.group(0)
        if found_run := _MLFLOW_RUN.search(line):
            outcome["mlflow_run_id"] = found_run["run"]
    outcome.update({k: v for k, v in structured.items() if v is not None})
    metrics.update(structured_metrics)
    if metrics:
        outcome["metrics"] = metrics
    if "model_id" in outcome and not _MODEL_ID.fullmatch(str(outcome["model_id"])):
        del outcome["model_id"]
    return outcome

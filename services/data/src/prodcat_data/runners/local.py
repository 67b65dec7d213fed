"""LocalRunner: a run is a process of the same `prodcat` CLI on this machine (the embedded
default, and what the tests drive).

Each run has a folder `<runs_dir>/<run id>/` with the stage's output (`run.log`), the supervisor's
pid (`process.json`) and, once it ends, its exit status (`exit.json`). The state is read from
those files and the process table, never from memory, so any API process on this machine (one
restarted mid-run included) sees the same thing: a run whose process is gone without an exit
status is lost, a finished one keeps its outcome."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from prodcat_core.errors import UnavailableError
from prodcat_data.config import DataSettings
from prodcat_data.runners.base import Observed, RunRef, join_steps
from prodcat_data.runners.supervise import EXIT_FILE, LOG_FILE, PROCESS_FILE, split_steps
from prodcat_data.runs.models import RunKind, RunState, check_run_id

logger = logging.getLogger(__name__)

_TAIL_BYTES = 256 * 1024
ALL_SHARDS_OPTION = "--all-shards"


def cli_command() -> list[str]:
    """The `prodcat` of this interpreter: the executable beside sys.executable (a venv's or an
    image's), else the CLI's entry function run by this interpreter."""
    beside = Path(sys.executable).parent / "prodcat"
    if beside.is_file() and os.access(beside, os.X_OK):
        return [str(beside)]
    return [sys.executable, "-c", "from prodcat_cli.main import run; run()"]


def absolute_store_uri(uri: str) -> str:
    """A SQLite URI with a relative path made absolute, so a run in another working directory
    uses the same tracking store as the API."""
    if not uri.startswith("sqlite:///") or uri.startswith("sqlite:////"):
        return uri
    path = uri.removeprefix("sqlite:///")
    if not path or path.startswith(":memory:"):
        return uri
    return f"sqlite:///{Path(path).resolve()}"


def tail_lines(path: Path, lines: int, max_bytes: int = _TAIL_BYTES) -> list[str]:
    """The last `lines` lines of a text file, reading at most `max_bytes` from its end."""
    if lines <= 0:
        return []
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            start = max(fh.tell() - max_bytes, 0)
            # One byte more, to tell whether the first line read is whole.
            fh.seek(max(start - 1, 0))
            data = fh.read()
    except FileNotFoundError:
        return []
    if start > 0:
        cut = data.find(b"\n")
        data = data[cut + 1 :] if cut >= 0 else b""
    return data.decode("utf-8", errors="replace").splitlines()[-lines:]


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


class LocalRunner:
    name = "local"

    def __init__(
        self,
        runs_dir: Path,
        *,
        env: Mapping[str, str] | None = None,
        cli: list[str] | None = None,
        start_grace_s: float = 30.0,
        workdir: Path | None = None,
    ) -> None:
        self.runs_dir = runs_dir.resolve()
        self.env = dict(env or {})
        self.cli = cli or cli_command()
        self.start_grace_s = start_grace_s
        self.workdir = workdir
        self.node = socket.gethostname()

    @classmethod
    def from_settings(cls, settings: DataSettings) -> LocalRunner:
        """Runs see the stores and the MLflow store this API checks requests against, and log
        JSON lines (which is what the API reads a run's outcome from)."""
        prepared = str(settings.prepared_dir.resolve())
        models = str(settings.models_dir.resolve())
        artifacts = str(settings.artifacts_dir.resolve())
        env = {
            "PRODCAT_LOG_FORMAT": "json",
            "MLFLOW_TRACKING_URI": absolute_store_uri(settings.tracking_uri),
            "MLFLOW_REGISTRY_URI": absolute_store_uri(settings.tracking_uri),
        }
        if settings.monitoring_dir is not None:
            env["MONITOR_OUTPUT_DIR"] = str(settings.monitoring_dir.resolve())
        if settings.inference_log_uri is not None:
            env["MONITOR_LOG_URI"] = settings.inference_log_uri
        if settings.feedback_dir is not None:
            env["MONITOR_FEEDBACK_DIR"] = str(settings.feedback_dir.resolve())
        env["DATA_DATASETS_DIR"] = str(settings.datasets_dir.resolve())
        env["DATA_PREPARED_DIR"] = prepared
        env["PREDICT_MODELS_DIR"] = models  # batch runs
        for stage in ("TRAIN", "EVALUATE", "MONITOR"):
            env |= {
                f"{stage}_PREPARED_DIR": prepared,
                f"{stage}_MODELS_DIR": models,
                f"{stage}_ARTIFACTS_DIR": artifacts,
                f"{stage}_EXPERIMENT": settings.experiment,
                f"{stage}_REGISTERED_MODEL": settings.registered_model,
            }
        return cls(
            settings.runs_dir,
            env=env,
            start_grace_s=settings.local_start_grace_s,
            workdir=settings.runs_workdir,
        )

    def run_dir(self, run_id: str) -> Path:
        return self.runs_dir / check_run_id(run_id)

    def start(self, run_id: str, kind: RunKind, args: list[str]) -> str:
        folder = self.run_dir(run_id)
        folder.mkdir(parents=True, exist_ok=True)
        if kind == "batch":  # the shards as parallel processes, where a cluster runs pods
            args = [*args, ALL_SHARDS_OPTION]
        command = [sys.executable, "-m", "prodcat_data.runners.supervise", "--detach"]
        # A run of several steps: the supervisor runs `prodcat <step>` for each, in order.
        command += [
            str(folder),
            "--",
            *join_steps([[*self.cli, *step] for step in split_steps(args)]),
        ]
        env = {**os.environ, **self.env}
        try:
            with (folder / LOG_FILE).open("ab") as log:
                # The supervisor daemonizes: this returns as soon as it has forked, with its pid.
                launched = subprocess.run(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=log,
                    env=env,
                    cwd=self.workdir,
                    timeout=60,
                    check=False,
                )
        except (OSError, subprocess.SubprocessError) as e:
            raise UnavailableError(f"run {run_id}: could not start {self.cli[0]}: {e}") from e
        pid = launched.stdout.decode("ascii", errors="replace").strip()
        if launched.returncode != 0 or not pid.isdigit():
            raise UnavailableError(
                f"run {run_id}: the supervisor did not start (exit code {launched.returncode}); "
                "see the run's log"
            )
        logger.info("started %s run %s as process %s", kind, run_id, pid)
        return pid

    def _process(self, ref: RunRef) -> psutil.Process | None:
        """The run's supervisor if it is still alive (checked against pid reuse): from the pid
        file it writes, or, in its first instants, from the handle and its command line."""
        info = _read_json(self.run_dir(ref.run_id) / PROCESS_FILE)
        try:
            if info is not None:
                process = psutil.Process(int(info["pid"]))
                if abs(process.create_time() - float(info["create_time"])) > 0.5:
                    return None
            elif ref.handle is not None and ref.handle.isdigit():
                process = psutil.Process(int(ref.handle))
                command = process.cmdline()
                if (
                    "prodcat_data.runners.supervise" not in command
                    or str(self.run_dir(ref.run_id)) not in command
                ):
                    return None
            else:
                return None
            if process.status() == psutil.STATUS_ZOMBIE:
                return None
        except (psutil.Error, KeyError, TypeError, ValueError):
            return None
        return process

    def status(self, ref: RunRef) -> Observed:
        folder = self.run_dir(ref.run_id)
        started = _parse_time((_read_json(folder / PROCESS_FILE) or {}).get("started_at"))
        if self._process(ref) is not None:
            return Observed("running" if started else "pending", started_at=started)
        ended = _read_json(folder / EXIT_FILE)
        if ended is not None:
            code = int(ended.get("exit_code", 1))
            finished = _parse_time(ended.get("finished_at"))
            if code == 0:
                return Observed("succeeded", None, 0, started, finished)
            if code < 0:
                reason = f"the stage was stopped by signal {signal.Signals(-code).name}"
                state: RunState = "cancelled" if ended.get("cancelled") else "failed"
                return Observed(state, reason, code, started, finished)
            why = "bad input" if code == 2 else "an error"
            return Observed(
                "failed", f"the stage exited with code {code} ({why})", code, started, finished
            )
        age = (datetime.now(UTC) - ref.created_at).total_seconds()
        if started is None and age < self.start_grace_s:
            return Observed("pending")
        return Observed(
            "failed",
            "lost: the run's process is gone and left no exit status (stopped with the machine or "
            "killed); start it again",
            started_at=started,
            finished_at=datetime.now(UTC),
        )

    def logs_tail(self, ref: RunRef, lines: int) -> list[str]:
        return tail_lines(self.run_dir(ref.run_id) / LOG_FILE, lines)

    def cancel(self, ref: RunRef) -> None:
        process = self._process(ref)
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if os.getpgid(process.pid) == process.pid:
                os.killpg(process.pid, signal.SIGTERM)
            else:
                process.terminate()
        logger.info("cancelled run %s (process %d)", ref.run_id, process.pid)

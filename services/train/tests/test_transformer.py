"""The transformer family end to end on a TINY BERT built here (a WordPiece tokenizer trained on
generated listings, 2 layers of width 32): training through the CLI, serving the ONNX artifact,
a Job killed after its first checkpoint and restarted, the export checks, bad inputs, and the
pinned packaged MiniLM. Nothing is downloaded."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from pydantic import ValidationError
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
from tokenizers import trainers as tok_trainers
from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

from prodcat_cli.main import main
from prodcat_core.datasets import PreparedData, SplitParams, prepared_store
from prodcat_core.errors import InvalidInputError
from prodcat_core.labels import LabelCodec
from prodcat_core.metrics import score
from prodcat_core.model import load_model
from prodcat_core.onnx_model import FP32_FILE, INT8_FILE, MODEL_DIR, OnnxTextModel, TextEncoder
from prodcat_core.reference_profile import PROFILE_FILE, ReferenceProfile
from prodcat_core.registry import ModelRegistry
from prodcat_core.store import VersionStore
from prodcat_core.text import listing_texts
from prodcat_data.config import DataSettings
from prodcat_data.importer import import_dataset
from prodcat_data.preprocess import preprocess_dataset
from prodcat_data.synthetic import generate_listings, write_challenge_files
from prodcat_train.checkpoints import CHECKPOINT_FILE, DONE_FILE, RUN_FILE, RunState
from prodcat_train.export import FP32_TOLERANCE, cpu_eager_copy, export_onnx, quantize_int8
from prodcat_train.transformer import (
    PACKAGED_SHA256,
    PACKAGED_WEIGHTS,
    TransformerParams,
    load_base_model,
    packaged_model_dir,
    resolve_base_model,
    sha256_file,
    verify_packaged_model,
)

pytestmark = [
    # MLflow's own notes when the train stage logs a model in this process; not ours to change.
    pytest.mark.filterwarnings("ignore:.*An input example was not provided:UserWarning"),
    pytest.mark.filterwarnings("ignore:.*Any type hint is inferred as AnyType:UserWarning"),
]

PRODCAT = Path(sys.executable).parent / "prodcat"
EPOCHS = 6
FIRST_CHECKPOINT = 20  # optimizer steps; an epoch here is 60 steps


@dataclass(frozen=True)
class Workspace:
    root: Path
    base_model: Path
    env: dict[str, str]

    @property
    def models(self) -> Path:
        return self.root / "models"

    def params(self) -> list[str]:
        pairs = {
            "base_model": str(self.base_model),
            "epochs": EPOCHS,
            "batch_size": 16,
            "lr": 5e-3,
            "patience": EPOCHS,
            "max_length": 64,
            "num_threads": 1,  # the same arithmetic in every run and process
            "checkpoint_every": FIRST_CHECKPOINT,
            "quantize": "true",
            "log_interval_s": 1,
        }
        return [arg for k, v in pairs.items() for arg in ("--set", f"{k}={v}")]

    def registry(self) -> ModelRegistry:
        return ModelRegistry(self.env["MLFLOW_TRACKING_URI"])


def _tiny_bert(folder: Path) -> None:
    """A WordPiece tokenizer trained on generated listings and an untrained 2-layer BERT."""
    x, _ = generate_listings(2000, seed=3)
    texts = listing_texts(x["designation"], x["description"])
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokenizer.train_from_iterator(
        texts, tok_trainers.WordPieceTrainer(vocab_size=1500, special_tokens=specials)
    )
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)],
    )
    tokenizer.decoder = decoders.WordPiece()
    PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=tokenizer,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=128,
    ).save_pretrained(str(folder))
    config = BertConfig(
        vocab_size=tokenizer.get_vocab_size(),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        initializer_range=0.2,  # a tiny net from scratch learns in a few epochs this way
        attention_probs_dropout_prob=0.0,  # hidden dropout stays: the resume test needs RNG
    )
    torch.manual_seed(0)
    BertModel(config).save_pretrained(str(folder))


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    root = tmp_path_factory.mktemp("transformer")
    base = root / "tiny-bert"
    _tiny_bert(base)
    x, y = write_challenge_files(root / "raw", 1500, seed=11)
    data = DataSettings(datasets_dir=root / "datasets", prepared_dir=root / "prepared")
    dataset = import_dataset(str(x), str(y), data)
    preprocess_dataset(dataset.dataset_id, SplitParams(val=0.2, test=0.1, holdout=0.05), data)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATA_", "TRAIN_", "EVALUATE_", "PREDICT_", "MLFLOW_"))
    }
    env |= {
        "TRAIN_PREPARED_DIR": str(root / "prepared"),
        "TRAIN_MODELS_DIR": str(root / "models"),
        "TRAIN_ARTIFACTS_DIR": str(root / "mlartifacts"),
        "TRAIN_GIT_COMMIT": "test",
        "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlruns.db'}",
        "HF_HUB_OFFLINE": "1",
        "PRODCAT_LOG_FORMAT": "text",
    }
    return Workspace(root, base, env)


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def _in_process(ws: Workspace, *args: str) -> int:
    """`prodcat …` in this process, with the workspace's environment."""
    with pytest.MonkeyPatch.context() as mp:
        for key in [k for k in os.environ if k.startswith(("TRAIN_", "MLFLOW_"))]:
            mp.delenv(key)
        for key, value in ws.env.items():
            if key.startswith(("TRAIN_", "MLFLOW_", "HF_", "PRODCAT_")):
                mp.setenv(key, value)
        return main(list(args))


@dataclass(frozen=True)
class Trained:
    path: Path
    stdout: str


@pytest.fixture(scope="module")
def reference(workspace: Workspace) -> Trained:
    """One uninterrupted run (run key `reference`), trained in this process through the CLI."""
    capture = _Capture()
    with capture:
        code = _in_process(
            workspace, "train", "--family", "transformer", *workspace.params(), "--run-key",
            "reference",
        )  # fmt: skip
    assert code == 0, capture.text
    model_id = (workspace.models / "refs" / "latest").read_text(encoding="utf-8").strip()
    return Trained(workspace.models / model_id, capture.text)


class _Capture:
    """stdout of an in-process CLI call."""

    def __init__(self) -> None:
        self.text = ""

    def __enter__(self) -> _Capture:
        import io

        self._buffer = io.StringIO()
        self._old = sys.stdout
        sys.stdout = self._buffer
        return self

    def __exit__(self, *exc: object) -> None:
        sys.stdout = self._old
        self.text = self._buffer.getvalue()


def _val(workspace: Workspace) -> tuple[list[str], np.ndarray, LabelCodec]:
    data = PreparedData(prepared_store(workspace.root / "prepared"), "latest")
    val = data.split("val")
    return val["text"].tolist(), data.codec.encode(val["prdtypecode"].to_numpy()), data.codec


# --- (a) end to end -------------------------------------------------------------------------


def test_trains_through_the_cli_and_serves_above_chance(
    workspace: Workspace, reference: Trained
) -> None:
    assert "trained m-" in reference.stdout
    assert "(transformer)" in reference.stdout
    loaded = load_model(reference.path, intra_op_threads=1)
    assert loaded.metadata.family == "transformer"
    assert isinstance(loaded.classifier, OnnxTextModel)
    assert loaded.classifier.model_path.name == INT8_FILE  # quantize=true serves int8
    files = set(loaded.metadata.files)
    assert {
        f"{MODEL_DIR}/{FP32_FILE}",
        f"{MODEL_DIR}/{INT8_FILE}",
        f"{MODEL_DIR}/onnx.json",
        f"{MODEL_DIR}/tokenizer/tokenizer.json",
    } <= files
    assert not [f for f in files if f.endswith((".pt", ".pkl", ".pickle", ".bin"))]
    profile = ReferenceProfile.load(reference.path)  # measured with the served ONNX graph
    assert PROFILE_FILE in files
    assert profile is not None
    assert profile.model_id == loaded.metadata.model_id
    assert sum(profile.class_shares.values()) == pytest.approx(1.0)
    assert loaded.metadata.params["base_model"] == str(workspace.base_model)
    assert loaded.metadata.metrics["epochs_run"] == EPOCHS

    data = PreparedData(prepared_store(workspace.root / "prepared"), "latest")
    test = data.split("test")
    y = data.codec.encode(test["prdtypecode"].to_numpy())
    proba = loaded.classifier.predict_proba(test["text"].tolist())
    assert proba.dtype == np.float32
    assert proba.shape == (len(test), data.codec.n_classes)
    scores = score(y, proba, data.codec)
    # Chance: the best constant answer, and guessing at the class frequencies.
    freq = np.bincount(y, minlength=data.codec.n_classes) / len(y)
    majority = score(
        y, np.tile(np.eye(data.codec.n_classes)[freq.argmax()], (len(y), 1)), data.codec
    )
    chance = max(majority.weighted_f1, float((freq**2).sum()))
    assert scores.weighted_f1 > 2 * chance, (scores.weighted_f1, chance)

    # The per-epoch history is in MLflow, one step per epoch.
    (version,) = [v for v in workspace.registry().versions() if v.model_id == reference.path.name]
    assert version.run_id is not None
    history = workspace.registry().client.get_metric_history(
        version.run_id, "epoch_val_weighted_f1"
    )
    assert [m.step for m in history] == list(range(EPOCHS))
    losses = workspace.registry().client.get_metric_history(version.run_id, "train_loss")
    assert losses[-1].value < losses[0].value

    # Done: the run state keeps its record, not its checkpoints.
    state = workspace.models / ".runs" / "reference"
    assert (state / DONE_FILE).is_file()
    assert not (state / CHECKPOINT_FILE).exists()
    assert not list(state.glob("best-*.pt"))


def test_a_finished_or_changed_run_key_is_a_conflict(
    workspace: Workspace, reference: Trained, capsys: pytest.CaptureFixture[str]
) -> None:
    before = len(workspace.registry().versions())
    code = _in_process(workspace, "train", "--family", "transformer", *workspace.params(),
                       "--run-key", "reference")  # fmt: skip
    assert code == 2
    assert "run key reference finished already" in capsys.readouterr().err
    # Same key, other parameters: refused before any work.
    RunState(workspace.models / ".runs", "changed").open(lambda: "m-000000000000", "0" * 64)
    code = _in_process(workspace, "train", "--family", "transformer", *workspace.params(),
                       "--set", "lr=0.001", "--run-key", "changed")  # fmt: skip
    assert code == 2
    assert "was started on other data or parameters" in capsys.readouterr().err
    assert len(workspace.registry().versions()) == before


# --- (b) kill and resume --------------------------------------------------------------------


def test_a_killed_run_resumes_from_its_checkpoint_and_matches_an_uninterrupted_one(
    workspace: Workspace, reference: Trained
) -> None:
    args = [str(PRODCAT), "train", "--family", "transformer", *workspace.params(),
            "--run-key", "resumable"]  # fmt: skip
    state = workspace.models / ".runs" / "resumable"
    log = workspace.root / "killed.log"
    with log.open("wb") as out:
        job = subprocess.Popen(args, env=workspace.env, stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 120
            while not (state / CHECKPOINT_FILE).exists():
                assert job.poll() is None, log.read_text(encoding="utf-8")
                assert time.monotonic() < deadline, "no checkpoint in 120 s"
                time.sleep(0.02)
            job.send_signal(signal.SIGKILL)
        finally:
            job.kill()
            job.wait(timeout=30)
    assert job.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    model_id = json.loads((state / RUN_FILE).read_text(encoding="utf-8"))["model_id"]
    assert not (workspace.models / model_id).exists()

    restarted = subprocess.run(args, env=workspace.env, capture_output=True, text=True, timeout=300)
    assert restarted.returncode == 0, restarted.stdout + restarted.stderr
    lines = [line for line in restarted.stdout.splitlines() if "resuming from step" in line]
    assert lines, restarted.stdout
    step = int(lines[0].split("resuming from step ")[1].split()[0])
    assert step >= FIRST_CHECKPOINT
    assert f"trained {model_id} (transformer)" in restarted.stdout  # the same model id

    resumed = load_model(workspace.models / model_id)
    ref = load_model(reference.path)
    for key in ("val_weighted_f1", "val_macro_f1", "steps", "best_epoch", "val_weighted_f1_fp32"):
        assert resumed.metadata.metrics[key] == pytest.approx(ref.metadata.metrics[key], abs=1e-6)
    texts, _, _ = _val(workspace)
    a = OnnxTextModel.load(resumed.path, onnx_file=FP32_FILE).logits(texts)
    b = OnnxTextModel.load(ref.path, onnx_file=FP32_FILE).logits(texts)
    np.testing.assert_allclose(a, b, atol=1e-4)
    assert (state / DONE_FILE).is_file()
    assert not (state / CHECKPOINT_FILE).exists()


# --- (c) ONNX against torch -----------------------------------------------------------------


def test_onnx_export_matches_torch_and_int8_mostly_agrees(
    workspace: Workspace, reference: Trained, tmp_path: Path
) -> None:
    texts, _, codec = _val(workspace)
    params = TransformerParams(base_model=str(workspace.base_model), max_length=64)
    tokenizer, model, names = load_base_model(resolve_base_model(params.base_model), codec, params)
    assert names == ["input_ids", "attention_mask"]  # its tokenizer declares no token types
    tokenizer.save_pretrained(str(tmp_path / "tok"))
    encoder = TextEncoder.from_file(tmp_path / "tok" / "tokenizer.json", 64, 0)
    torch_model = cpu_eager_copy(model, model.state_dict())
    sample = encoder.pad(encoder.encode(["word " * 12, "word"]), [0, 1])
    export_onnx(torch_model, names, sample, tmp_path / "model.onnx", opset=17)
    quantize_int8(tmp_path / "model.onnx", tmp_path / "model.int8.onnx")

    import onnxruntime as ort

    fp32 = ort.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"])
    tokens = encoder.encode(texts)
    # Batches of 1, of mixed lengths (padding), and longer than the traced sample.
    for rows in (np.arange(1), np.arange(7), np.argsort(tokens.lengths)[-33:]):
        feed = encoder.pad(tokens, rows)
        with torch.inference_mode():
            expected = torch_model(**{k: torch.from_numpy(feed[k]) for k in names}).logits.numpy()
        (got,) = fp32.run(None, {k: feed[k] for k in names})
        assert np.abs(got - expected).max() <= FP32_TOLERANCE
    assert (tmp_path / "model.int8.onnx").stat().st_size < (tmp_path / "model.onnx").stat().st_size

    # The trained artifact: its int8 graph (served) against its fp32 graph.
    meta = load_model(reference.path).metadata
    assert meta.metrics["onnx_fp32_max_abs_diff"] <= FP32_TOLERANCE
    served = OnnxTextModel.load(reference.path)
    full = OnnxTextModel.load(reference.path, onnx_file=FP32_FILE)
    agreement = float((served.logits(texts).argmax(1) == full.logits(texts).argmax(1)).mean())
    assert agreement >= 0.8, agreement
    assert meta.metrics["int8_argmax_agreement"] >= 0.8
    # truncated(): max_length 64 cuts the longest listings.
    flags = served.truncated(texts)
    uncut = TextEncoder.from_file(tmp_path / "tok" / "tokenizer.json", 512, 0).encode(texts)
    assert flags == (uncut.lengths > 64).tolist()
    assert any(flags)
    assert not all(flags)


# --- (d) bad inputs ---------------------------------------------------------------------------


def test_a_corrupt_or_missing_onnx_file_is_refused(reference: Trained, tmp_path: Path) -> None:
    copy = shutil.copytree(reference.path, tmp_path / reference.path.name)
    served = copy / MODEL_DIR / INT8_FILE
    served.write_bytes(served.read_bytes()[: served.stat().st_size // 2])
    with pytest.raises(InvalidInputError, match=r"model\.int8\.onnx is corrupt"):
        load_model(copy)
    with pytest.raises(InvalidInputError, match="corrupt"):
        OnnxTextModel.load(copy)
    shutil.copy(reference.path / MODEL_DIR / INT8_FILE, served)
    (copy / MODEL_DIR / FP32_FILE).unlink()
    with pytest.raises(InvalidInputError, match=r"model\.onnx is missing"):
        load_model(copy)
    served.unlink()
    with pytest.raises(InvalidInputError, match="ONNX model file is missing"):
        OnnxTextModel.load(copy)


def test_an_unknown_base_model_is_bad_input_and_leaves_the_registry_alone(
    workspace: Workspace, reference: Trained, capsys: pytest.CaptureFixture[str]
) -> None:
    before = len(workspace.registry().versions())
    artifacts = sorted(VersionStore(workspace.models, "m", "model").ids())
    code = _in_process(workspace, "train", "--family", "transformer",
                       "--set", "base_model=/nonexistent/models/bert-tiny")  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.splitlines() == [
        "error: base_model '/nonexistent/models/bert-tiny': no such folder, and not a "
        "Hugging Face model id"
    ]
    assert len(workspace.registry().versions()) == before
    assert sorted(VersionStore(workspace.models, "m", "model").ids()) == artifacts


def test_an_unknown_hub_id_offline_is_bad_input(workspace: Workspace) -> None:
    done = subprocess.run(
        [str(PRODCAT), "train", "--family", "transformer", "--set",
         "base_model=prodcat-tests/no-such-model", "--run-key", "offline"],
        env=workspace.env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: base_model 'prodcat-tests/no-such-model': cannot load it")
    assert not (workspace.models / ".runs" / "offline").exists()  # nothing left to resume


def _hub_cache(root: Path, repo: str, folder: Path, commit: str) -> Path:
    """A Hugging Face cache (HF_HOME) holding `folder` as commit `commit` of hub model `repo`,
    laid out as huggingface_hub downloads it: what HF_HUB_OFFLINE=1 loads instead of the hub."""
    entry = root / "hub" / f"models--{repo.replace('/', '--')}"
    shutil.copytree(folder, entry / "snapshots" / commit)
    (entry / "refs").mkdir()
    (entry / "refs" / "main").write_text(commit, encoding="ascii")
    return root


def test_a_hub_base_model_is_loaded_at_its_pinned_revision_and_records_it(
    workspace: Workspace, tmp_path: Path
) -> None:
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = "prodcat-tests/tiny-bert"
    env = workspace.env | {"HF_HOME": str(_hub_cache(tmp_path, repo, workspace.base_model, commit))}
    quick = ["--set", "epochs=1", "--set", "max_steps=2", "--set", "checkpoint_every=0",
             "--set", "max_length=64", "--set", "num_threads=1"]  # fmt: skip

    def train(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(PRODCAT), "train", "--family", "transformer", "--set", f"base_model={repo}",
             *quick, *extra],
            env=env, capture_output=True, text=True, timeout=600,
        )  # fmt: skip

    done = train("--set", f"base_model_revision={commit}", "--run-key", "pinned")
    assert done.returncode == 0, done.stderr
    model_id = (workspace.models / "refs" / "latest").read_text(encoding="utf-8").strip()
    params = load_model(workspace.models / model_id, intra_op_threads=1).metadata.params
    assert (params["base_model"], params["base_model_revision"]) == (repo, commit)

    # Unpinned: a warning says so, and the commit that was loaded is still recorded.
    done = train("--run-key", "unpinned")
    assert done.returncode == 0, done.stderr
    assert "is not pinned" in done.stdout + done.stderr
    model_id = (workspace.models / "refs" / "latest").read_text(encoding="utf-8").strip()
    params = load_model(workspace.models / model_id, intra_op_threads=1).metadata.params
    assert params["base_model_revision"] == commit

    # A commit the hub (here: the cache) does not have is bad input, before any training.
    done = train("--set", f"base_model_revision={'f' * 40}", "--run-key", "absent")
    assert done.returncode == 2, done.stderr
    assert "cannot load it" in done.stderr.strip().splitlines()[-1]


def test_a_revision_pins_only_a_hub_model_and_only_to_a_commit(workspace: Workspace) -> None:
    with pytest.raises(InvalidInputError, match="is a local folder"):
        resolve_base_model(None, "0" * 40)
    with pytest.raises(InvalidInputError, match="is a local folder"):
        resolve_base_model(str(workspace.base_model), "0" * 40)
    with pytest.raises(ValidationError, match="base_model_revision"):
        TransformerParams(base_model="prodcat-tests/tiny-bert", base_model_revision="main")


def test_bad_parameters_are_named(workspace: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    code = _in_process(workspace, "train", "--family", "transformer", "--set", "epochs=0",
                       "--set", "learning_rate=1")  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert "bad transformer parameter: epochs:" in err
    assert "learning_rate" in err


# --- (e) the packaged MiniLM ------------------------------------------------------------------


def test_the_packaged_minilm_is_pinned_and_loads_offline(tmp_path: Path) -> None:
    folder = packaged_model_dir()
    assert sha256_file(folder / PACKAGED_WEIGHTS) == PACKAGED_SHA256
    ref = resolve_base_model(None)
    assert ref.sha256 == PACKAGED_SHA256
    assert ref.local

    codec = LabelCodec.from_codes([10, 40, 2583])
    tokenizer, model, names = load_base_model(ref, codec, TransformerParams())
    assert names == ["input_ids", "attention_mask", "token_type_ids"]
    batch = tokenizer(["chaise de jardin en bois", "roman"], padding=True, return_tensors="pt")
    with torch.inference_mode():
        logits = model(**{k: batch[k] for k in names}).logits
    assert logits.shape == (2, 3)

    # A changed weights file is refused before any training.
    tampered = tmp_path / "minilm"
    shutil.copytree(folder, tampered)
    with (tampered / PACKAGED_WEIGHTS).open("r+b") as fh:
        fh.seek(-1, os.SEEK_END)
        last = fh.read(1)
        fh.seek(-1, os.SEEK_END)
        fh.write(bytes([last[0] ^ 1]))
    with pytest.raises(InvalidInputError, match="is not the pinned"):
        verify_packaged_model(tampered)

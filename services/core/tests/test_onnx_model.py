"""The ONNX transformer classifier: tokenization, padding, batching, errors, and no torch.

The graph here is a hand-built ONNX model (masked mean of per-token class scores), so the tests
need neither torch nor a trained network; the train stage's tests export a real encoder."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from tokenizers import Tokenizer, models, pre_tokenizers, processors

from prodcat_core.artifact import ArtifactMetadata, write_artifact
from prodcat_core.errors import InvalidInputError
from prodcat_core.labels import LabelCodec
from prodcat_core.model import load_bulk_model, load_model
from prodcat_core.onnx_model import (
    CONFIG_FILE,
    FP32_FILE,
    MODEL_DIR,
    PADDING_RATIO,
    PADDING_SLACK,
    TOKENIZER_FILE,
    OnnxConfig,
    OnnxTextModel,
    TextEncoder,
    length_batches,
)

WORDS = [
    "chaise", "table", "jardin", "roman", "livre", "poche", "piscine", "spa", "pompe", "bois",
    "rouge", "neuf", "lot", "de", "pour", "le", "la",
]  # fmt: skip
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
CODES = (2582, 10, 2583)
MAX_LENGTH = 8


def _tokenizer() -> Tokenizer:
    vocab = {token: i for i, token in enumerate(SPECIALS + WORDS)}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    # A saved tokenizer may carry fixed-length padding; the encoder must undo it.
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]", length=MAX_LENGTH * 4)
    return tokenizer


def _graph(vocab_size: int, n_classes: int, seed: int = 0) -> onnx.ModelProto:
    """logits = sum over unmasked tokens of E[id] / number of unmasked tokens."""
    table = np.random.default_rng(seed).normal(size=(vocab_size, n_classes)).astype(np.float32)
    table[:4] = 0.0  # special tokens say nothing
    nodes = [
        helper.make_node("Gather", ["E", "input_ids"], ["emb"]),
        helper.make_node("Cast", ["attention_mask"], ["m"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["m", "axis2"], ["m3"]),
        helper.make_node("Mul", ["emb", "m3"], ["masked"]),
        helper.make_node("ReduceSum", ["masked", "axis1"], ["num"], keepdims=0),
        helper.make_node("ReduceSum", ["m3", "axis1"], ["den"], keepdims=0),
        helper.make_node("Div", ["num", "den"], ["logits"]),
    ]
    graph = helper.make_graph(
        nodes,
        "masked-mean",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "sequence"]),
            helper.make_tensor_value_info(
                "attention_mask", TensorProto.INT64, ["batch", "sequence"]
            ),
        ],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", n_classes])],
        initializer=[
            numpy_helper.from_array(table, "E"),
            numpy_helper.from_array(np.array([2], dtype=np.int64), "axis2"),
            numpy_helper.from_array(np.array([1], dtype=np.int64), "axis1"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def _write_model(folder: Path) -> list[str]:
    tokenizer = _tokenizer()
    (folder / MODEL_DIR / "tokenizer").mkdir(parents=True)
    tokenizer.save(str(folder / TOKENIZER_FILE))
    onnx.save(_graph(tokenizer.get_vocab_size(), len(CODES)), str(folder / MODEL_DIR / FP32_FILE))
    config = OnnxConfig(
        serve="model.onnx",
        max_length=MAX_LENGTH,
        input_names=["input_ids", "attention_mask"],
        pad_id=0,
        n_classes=len(CODES),
    )
    (folder / CONFIG_FILE).write_text(config.model_dump_json(), encoding="utf-8")
    return [CONFIG_FILE, TOKENIZER_FILE, f"{MODEL_DIR}/{FP32_FILE}"]


@pytest.fixture
def artifact(tmp_path: Path) -> Path:
    metadata = ArtifactMetadata(
        model_id="m-onnx",
        family="transformer",
        dataset_id="ds-test",
        prepared_id="pp-test",
        synthetic=True,
    )
    return write_artifact(tmp_path / "m-onnx", metadata, LabelCodec.from_codes(CODES), _write_model)


TEXTS = [
    "chaise de jardin",
    "roman",
    "piscine spa pompe pour le jardin de la table rouge neuf",  # cut at MAX_LENGTH tokens
    "lot de livre de poche",
    "table en bois",  # "en" is unknown
]


def test_load_model_serves_a_transformer_artifact(artifact: Path) -> None:
    loaded = load_model(artifact, intra_op_threads=1)
    assert isinstance(loaded.classifier, OnnxTextModel)
    proba = loaded.classifier.predict_proba(TEXTS)
    assert proba.dtype == np.float32
    assert proba.shape == (len(TEXTS), len(CODES))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    assert loaded.classifier.predict_proba([]).shape == (0, len(CODES))


def test_batches_are_length_sorted_and_put_back_in_order(artifact: Path) -> None:
    one_by_one = OnnxTextModel.load(artifact, batch_size=1)
    batched = OnnxTextModel.load(artifact, batch_size=2)
    expected = np.vstack([one_by_one.logits([t]) for t in TEXTS])
    # Padding changes nothing: every text scores the same alone and among longer ones.
    np.testing.assert_allclose(batched.logits(TEXTS), expected, atol=1e-6)
    np.testing.assert_allclose(batched.logits(TEXTS[::-1]), expected[::-1], atol=1e-6)


def test_parallel_calls_score_exactly_like_one_call_at_a_time(artifact: Path) -> None:
    rng = np.random.default_rng(4)
    texts = [" ".join(rng.choice(WORDS, size=rng.integers(1, 12))) for _ in range(300)]
    serial = OnnxTextModel.load(artifact, intra_op_threads=1, batch_size=4)
    parallel = OnnxTextModel.load(artifact, intra_op_threads=1, batch_size=4, parallel_calls=3)
    expected = serial.logits(texts)
    np.testing.assert_allclose(parallel.logits(texts), expected, atol=1e-6)
    np.testing.assert_allclose(parallel.logits(texts[:1]), expected[:1], atol=1e-6)
    assert parallel._pool is not None  # the batches did go through the pool
    assert parallel._pool._max_workers == 3
    with pytest.raises(ValueError, match="parallel_calls"):
        OnnxTextModel.load(artifact, parallel_calls=0)


def test_bulk_model_follows_the_inference_plan(artifact: Path) -> None:
    four_cpus = load_bulk_model(artifact, 4)
    assert isinstance(four_cpus.classifier, OnnxTextModel)
    assert four_cpus.classifier.parallel_calls == 4
    options = four_cpus.classifier._session.get_session_options()
    assert options.intra_op_num_threads == 1
    set_by_hand = load_bulk_model(artifact, 4, threads=2)
    assert isinstance(set_by_hand.classifier, OnnxTextModel)
    assert set_by_hand.classifier.parallel_calls == 2
    assert set_by_hand.classifier._session.get_session_options().intra_op_num_threads == 2


def test_padding_goes_to_the_longest_text_not_max_length(artifact: Path) -> None:
    model = OnnxTextModel.load(artifact)
    tokens = model.encoder.encode(["roman", "chaise de jardin"])
    feed = model.encoder.pad(tokens, [0, 1])
    assert feed["input_ids"].shape == (2, 5)  # [CLS] chaise de jardin [SEP]
    assert feed["input_ids"][0].tolist() == [2, 7, 3, 0, 0]
    assert feed["attention_mask"].tolist() == [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]
    cut = model.encoder.encode([TEXTS[2]])
    assert len(cut.ids[0]) == MAX_LENGTH
    assert cut.ids[0][-1] == 3  # [SEP] kept after the cut


def test_truncated_flags_texts_cut_at_max_length(artifact: Path) -> None:
    model = OnnxTextModel.load(artifact)
    assert model.max_length == MAX_LENGTH
    assert model.truncated(TEXTS) == [False, False, True, False, False]


def test_intra_op_threads_are_configurable(artifact: Path) -> None:
    model = OnnxTextModel.load(artifact, intra_op_threads=1)
    options = model._session.get_session_options()
    assert options.intra_op_num_threads == 1
    assert options.inter_op_num_threads == 1


def test_a_corrupt_model_file_is_refused(artifact: Path) -> None:
    onnx_file = artifact / MODEL_DIR / FP32_FILE
    onnx_file.write_bytes(onnx_file.read_bytes()[:100])
    with pytest.raises(InvalidInputError, match=r"model\.onnx is corrupt \(sha256 mismatch\)"):
        load_model(artifact)
    # Without the artifact's hash check, ONNX Runtime's refusal is just as clear.
    with pytest.raises(InvalidInputError, match="ONNX model is corrupt or unreadable"):
        OnnxTextModel.load(artifact)


def test_a_missing_model_file_is_refused(artifact: Path) -> None:
    (artifact / MODEL_DIR / FP32_FILE).unlink()
    with pytest.raises(InvalidInputError, match=r"model\.onnx is missing"):
        load_model(artifact)
    with pytest.raises(InvalidInputError, match="ONNX model file is missing"):
        OnnxTextModel.load(artifact)


def test_a_corrupt_tokenizer_or_config_is_refused(artifact: Path) -> None:
    (artifact / TOKENIZER_FILE).write_text("{", encoding="utf-8")
    with pytest.raises(InvalidInputError, match="tokenizer file is corrupt"):
        OnnxTextModel.load(artifact)
    (artifact / CONFIG_FILE).write_text(json.dumps({"serve": "model.onnx"}), encoding="utf-8")
    with pytest.raises(InvalidInputError, match="not a valid transformer config"):
        OnnxTextModel.load(artifact)
    (artifact / CONFIG_FILE).unlink()
    with pytest.raises(InvalidInputError, match=r"onnx\.json is missing"):
        OnnxTextModel.load(artifact)


def test_graph_and_config_must_agree(artifact: Path) -> None:
    config = json.loads((artifact / CONFIG_FILE).read_text(encoding="utf-8"))
    (artifact / CONFIG_FILE).write_text(
        json.dumps(config | {"input_names": ["input_ids", "attention_mask", "token_type_ids"]}),
        encoding="utf-8",
    )
    with pytest.raises(InvalidInputError, match="the graph takes inputs"):
        OnnxTextModel.load(artifact)
    (artifact / CONFIG_FILE).write_text(json.dumps(config | {"n_classes": 5}), encoding="utf-8")
    with pytest.raises(InvalidInputError, match="the graph has 3 outputs, its config says 5"):
        OnnxTextModel.load(artifact)


def test_encoder_from_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="tokenizer file is missing"):
        TextEncoder.from_file(tmp_path / "tokenizer.json", 16, 0)


def test_serving_imports_no_torch_or_transformers(artifact: Path) -> None:
    code = (
        "import sys; from pathlib import Path; from prodcat_core.model import load_model; "
        f"load_model(Path({str(artifact)!r})).classifier.predict_proba(['roman']); "
        "heavy = [m for m in ('torch', 'transformers') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_length_batches_group_similar_lengths_and_cover_every_row_once() -> None:
    rng = np.random.default_rng(0)
    lengths = rng.integers(3, 129, size=200).astype(np.int64)
    batches = length_batches(lengths, batch_size=16)
    rows = np.concatenate(batches)
    assert sorted(rows.tolist()) == list(range(200))
    for batch in batches:
        assert 1 <= len(batch) <= 16
        assert lengths[batch].max() <= PADDING_RATIO * lengths[batch].min() + PADDING_SLACK
    # Equal lengths fill whole batches.
    assert [len(b) for b in length_batches(np.full(40, 20, dtype=np.int64), 16)] == [16, 16, 8]

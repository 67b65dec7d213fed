"""The linear family's inference: TF-IDF identical to scikit-learn's, save/load, broken files."""

from __future__ import annotations

import gc
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer

from prodcat_core.errors import InvalidInputError
from prodcat_core.linear_model import (
    FEATURES_FILE,
    MODEL_FILES,
    WEIGHTS_FILE,
    FeatureBlock,
    LinearTextModel,
    softmax,
)
from prodcat_core.text import FIELD_SEPARATOR

CORPUS = [
    "Chaise de jardin en teck massif",
    "chaise pliante de camping, chaise légère",
    "Piscine gonflable ronde 3 m pour enfants",
    "Livre de poche: roman policier, très bon état",
    "Jeu vidéo PS4 neuf sous blister",
    "Jeu de société familial, jeu de cartes",
    "Épicerie fine : café moulu bio, thé vert",
    "Figurine Pop! vinyle, figurine de collection",
]
UNSEEN = [
    "chaise de bureau",
    "zzz qqq",  # nothing in the vocabulary: an all-zero row
    "",
    "Jeu jeu JEU chaise Chaise",
    "Café thé é",
]


def _fitted(block: FeatureBlock) -> TfidfVectorizer:
    vectorizer = TfidfVectorizer(
        analyzer=block.analyzer,
        ngram_range=block.ngram_range,
        sublinear_tf=block.sublinear_tf,
        strip_accents=block.strip_accents,
        lowercase=block.lowercase,
    )
    vectorizer.fit(block.clip(CORPUS))
    return vectorizer


def _model(blocks: list[FeatureBlock], n_classes: int = 3, seed: int = 0) -> LinearTextModel:
    vectorizers = [_fitted(b) for b in blocks]
    vocabularies = [v.get_feature_names_out().tolist() for v in vectorizers]
    rng = np.random.default_rng(seed)
    n_features = sum(len(v) for v in vocabularies)
    return LinearTextModel(
        blocks,
        vocabularies,
        [v.idf_.astype(np.float32) for v in vectorizers],
        rng.normal(size=(n_classes, n_features)).astype(np.float32),
        rng.normal(size=n_classes).astype(np.float32),
        temperature=1.7,
    )


@pytest.mark.parametrize(
    "block",
    [
        FeatureBlock(analyzer="word", ngram_range=(1, 2)),
        FeatureBlock(analyzer="word", ngram_range=(1, 1), sublinear_tf=False),
        FeatureBlock(analyzer="char_wb", ngram_range=(2, 4)),
        FeatureBlock(analyzer="char_wb", ngram_range=(3, 5), strip_accents="unicode"),
        FeatureBlock(analyzer="word", ngram_range=(1, 2), lowercase=False),
    ],
    ids=["word-1-2", "word-raw-tf", "char_wb-2-4", "char_wb-accents", "word-case"],
)
def test_transform_equals_scikit_learn(block: FeatureBlock) -> None:
    model = _model([block])
    reference = _fitted(block)
    for texts in (CORPUS, UNSEEN):
        ours = model.transform(texts)
        theirs = reference.transform(texts)
        assert ours.shape == theirs.shape
        np.testing.assert_allclose(ours.toarray(), theirs.toarray(), rtol=0, atol=1e-6)


def test_transform_stacks_blocks_and_clips() -> None:
    word = FeatureBlock(analyzer="word", ngram_range=(1, 1))
    chars = FeatureBlock(analyzer="char_wb", ngram_range=(2, 3), max_chars=12)
    model = _model([word, chars])
    texts = [*CORPUS, *UNSEEN]
    expected = sp.hstack(
        [_fitted(word).transform(texts), _fitted(chars).transform([t[:12] for t in texts])]
    ).toarray()
    np.testing.assert_allclose(model.transform(texts).toarray(), expected, rtol=0, atol=1e-6)
    # Text past max_chars changes nothing in the clipped block.
    a = model.transform(["Chaise de ja" + "rdin"]).toarray()[:, len(model.vocabularies[0]) :]
    b = model.transform(["Chaise de ja" + "xxxx"]).toarray()[:, len(model.vocabularies[0]) :]
    np.testing.assert_array_equal(a, b)


def test_a_title_block_reads_the_first_line_and_scales_by_its_weight() -> None:
    title = FeatureBlock(analyzer="word", ngram_range=(1, 1), field="title", weight=0.5)
    model = _model([title])
    texts = [f"Chaise de jardin{FIELD_SEPARATOR}en teck, jeu de cartes offert", "Roman policier"]
    expected = 0.5 * _fitted(title).transform(["Chaise de jardin", "Roman policier"]).toarray()
    np.testing.assert_allclose(model.transform(texts).toarray(), expected, rtol=0, atol=1e-6)
    # What the description says does not reach the title block.
    other = model.transform([f"Chaise de jardin{FIELD_SEPARATOR}piscine"]).toarray()
    np.testing.assert_array_equal(other[0], model.transform(texts).toarray()[0])


def test_predict_proba_is_softmax_of_scores_over_temperature() -> None:
    model = _model([FeatureBlock(analyzer="word", ngram_range=(1, 1))], n_classes=4)
    x = _fitted(FeatureBlock(analyzer="word", ngram_range=(1, 1))).transform(CORPUS).toarray()
    scores = x @ model.coef.T.astype(np.float64) + model.intercept
    expected = np.exp(scores / 1.7)
    expected /= expected.sum(axis=1, keepdims=True)
    proba = model.predict_proba(CORPUS)
    assert proba.shape == (len(CORPUS), 4)
    np.testing.assert_allclose(proba, expected, atol=1e-5)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    assert model.n_classes == 4


def test_softmax_is_stable_for_large_scores() -> None:
    proba = softmax(np.array([[1000.0, 1000.0], [-1000.0, 0.0]], dtype=np.float32))
    assert np.isfinite(proba).all()
    np.testing.assert_allclose(proba, [[0.5, 0.5], [0.0, 1.0]], atol=1e-6)


def test_inconsistent_shapes_are_refused() -> None:
    block = FeatureBlock(analyzer="word", ngram_range=(1, 1))
    ones = np.ones(2, dtype=np.float32)
    with pytest.raises(ValueError, match="same length"):
        LinearTextModel([block], [["a", "b"], ["c"]], [ones], np.ones((3, 2), np.float32), ones)
    with pytest.raises(ValueError, match="does not fit 2 features"):
        LinearTextModel(
            [block], [["a", "b"]], [ones], np.ones((3, 5), np.float32), np.ones(3, np.float32)
        )


def test_save_load_round_trip(tmp_path: Path) -> None:
    model = _model(
        [
            FeatureBlock(analyzer="word", ngram_range=(1, 2)),
            FeatureBlock(analyzer="char_wb", ngram_range=(2, 4), max_chars=30),
        ],
        n_classes=5,
    )
    names = model.save(tmp_path)
    assert names == list(MODEL_FILES)
    assert all((tmp_path / n).is_file() for n in names)
    # Never a pickle: the weights load with pickles refused.
    with np.load(tmp_path / WEIGHTS_FILE, allow_pickle=False) as weights:
        assert set(weights.files) == {"coef", "intercept", "temperature", "idf_0", "idf_1"}
    loaded = LinearTextModel.load(tmp_path)
    assert loaded.blocks == model.blocks
    assert loaded.vocabularies == model.vocabularies
    assert loaded.temperature == pytest.approx(1.7)
    texts = [*CORPUS, *UNSEEN]
    np.testing.assert_array_equal(loaded.predict_proba(texts), model.predict_proba(texts))


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    _model([FeatureBlock(analyzer="word", ngram_range=(1, 1))]).save(tmp_path)
    return tmp_path


@pytest.mark.parametrize("name", [FEATURES_FILE, WEIGHTS_FILE])
def test_load_missing_file(saved: Path, name: str) -> None:
    (saved / name).unlink()
    with pytest.raises(InvalidInputError, match="linear model file missing") as info:
        LinearTextModel.load(saved)
    assert str(saved) in info.value.message


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("name", "damage"),
    [
        (WEIGHTS_FILE, lambda p: p.write_bytes(b"not an archive at all")),
        (WEIGHTS_FILE, _truncate),
        (WEIGHTS_FILE, _flip_a_byte),
        (WEIGHTS_FILE, lambda p: np.savez(p, coef=np.ones((3, 2), np.float32))),
        (FEATURES_FILE, lambda p: p.write_text("{not json", encoding="utf-8")),
        (FEATURES_FILE, lambda p: p.write_text('{"blocks": []}', encoding="utf-8")),
        (
            FEATURES_FILE,
            lambda p: p.write_text('{"blocks": [{"analyzer": "x"}]}', encoding="utf-8"),
        ),
        (FEATURES_FILE, _truncate),
    ],
    ids=[
        "weights-garbage",
        "weights-truncated",
        "weights-flipped-byte",
        "weights-missing-arrays",
        "features-not-json",
        "features-missing-vocabularies",
        "features-bad-block",
        "features-truncated",
    ],
)
def test_load_corrupt_files(saved: Path, name: str, damage: Callable[[Path], object]) -> None:
    damage(saved / name)
    try:
        with pytest.raises(InvalidInputError, match="linear model") as info:
            LinearTextModel.load(saved)
        assert str(saved) in info.value.message
    finally:
        # A file handle a failed load left open shows up in this test (an unraisable
        # ResourceWarning, an error under -W error), not in whichever test collects it later.
        gc.collect()

"""The linear family's fast scoring path gives the predictions of the path it replaced (one
scikit-learn CountVectorizer per block, TF-IDF by sparse products, the weights as trained) on a
model trained here: same classes, probabilities within 1e-6, before and after a save/load, with a
cold or a full word memory, and from weights saved in the old (classes x features) layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import prodcat_core.linear_model as linear_model
from prodcat_core.labels import LabelCodec
from prodcat_core.linear_model import (
    WEIGHTS_FILE,
    LinearTextModel,
    ReferenceLinearScorer,
)
from prodcat_core.ngrams import Analyzer, analyzer, char_wb_ngrams
from prodcat_core.text import FIELD_SEPARATOR, listing_texts
from prodcat_data.synthetic import generate_listings
from prodcat_train.linear import LinearParams, fit_linear

EDGE_TEXTS = [
    "",
    " ",
    "a",
    "é",
    f"Titre seul{FIELD_SEPARATOR}",
    f"{FIELD_SEPARATOR}description sans titre",
    "Chaise CHAISE chaise  chaise\t\tde jardin",
    "x" * 5000,
    "Ça coûte 12,50 € — très bon état !!!",
    "zzzqqq wwwkkk",
]


@pytest.fixture(scope="module")
def trained() -> tuple[LinearTextModel, list[str]]:
    x, y = generate_listings(2400, 11)
    texts = listing_texts(x["designation"].tolist(), x["description"].tolist())
    codec = LabelCodec.from_codes(y["prdtypecode"])
    labels = codec.encode(y["prdtypecode"].to_numpy())
    params = LinearParams(word_max_features=30_000, char_max_features=30_000, stack_folds=0)
    fit = fit_linear(
        texts[:1600], labels[:1600], texts[1600:2000], labels[1600:2000], codec.n_classes, params
    )
    return fit.model, [*texts[2000:], *EDGE_TEXTS]


def _assert_same(model: LinearTextModel, texts: list[str]) -> None:
    expected = ReferenceLinearScorer(model).predict_proba(texts)
    for batch in (1, 32, len(texts)):
        got = np.concatenate(
            [model.predict_proba(texts[i : i + batch]) for i in range(0, len(texts), batch)]
        )
        assert got.shape == expected.shape
        np.testing.assert_array_equal(got.argmax(axis=1), expected.argmax(axis=1))
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)


def test_the_fast_path_predicts_what_the_old_one_did(
    trained: tuple[LinearTextModel, list[str]],
) -> None:
    model, texts = trained
    assert len({b.field for b in model.blocks}) == 2  # text and title blocks both exercised
    _assert_same(model, texts)
    # The same once every word is remembered (the second pass reads only the memory).
    _assert_same(model, texts)


def test_a_saved_model_and_old_layout_weights_predict_the_same(
    trained: tuple[LinearTextModel, list[str]], tmp_path: Path
) -> None:
    model, texts = trained
    model.save(tmp_path)
    _assert_same(LinearTextModel.load(tmp_path), texts)
    # Artifacts written before the fast path stored coef as classes x features, C order.
    with np.load(tmp_path / WEIGHTS_FILE) as weights:
        arrays = {k: weights[k] for k in weights.files}
    arrays["coef"] = np.ascontiguousarray(arrays["coef"])
    np.savez_compressed(tmp_path / WEIGHTS_FILE, **arrays)
    old_layout = LinearTextModel.load(tmp_path)
    assert old_layout.coef_t.flags.c_contiguous
    _assert_same(old_layout, texts)


def test_a_full_word_memory_is_cleared_and_changes_nothing(
    trained: tuple[LinearTextModel, list[str]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    model, texts = trained
    model.save(tmp_path)
    monkeypatch.setattr(linear_model, "WORD_MEMORY", 50)
    small = LinearTextModel.load(tmp_path)
    _assert_same(small, texts)
    # Bounded: cleared once past the limit, then at most one more text's words are added.
    most_words = max(len(t.split()) for t in texts)
    assert all(len(b._words) <= 51 + most_words for b in small._blocks)


@pytest.mark.parametrize("word", ["a", "ab", "abc", "chaise", "é", "x" * 12])
@pytest.mark.parametrize("ngram_range", [(1, 1), (1, 5), (2, 5), (3, 3), (5, 6)])
def test_char_wb_ngrams_are_scikit_learns(word: str, ngram_range: tuple[int, int]) -> None:
    from sklearn.feature_extraction.text import CountVectorizer

    analyze = CountVectorizer(analyzer="char_wb", ngram_range=ngram_range).build_analyzer()
    assert char_wb_ngrams(word, *ngram_range) == analyze(word)


ANALYZED = [
    "",
    "a",
    "Chaise de JARDIN en teck, très bon état",
    "tab\tand  double  spaces\n\nnew lines",
    "Éléphant ÇA coûte 12,50 € — l'été!",
    "x" * 30,
    "ﬁ ligature, Ⅻ numeral, ½ fraction",
]


@pytest.mark.parametrize("kind", ["word", "char_wb", "char"])
@pytest.mark.parametrize("ngram_range", [(1, 1), (1, 2), (2, 5), (1, 5)])
@pytest.mark.parametrize(("lowercase", "strip_accents"), [(True, None), (False, "unicode")])
def test_the_analyzers_are_scikit_learns(
    kind: Analyzer, ngram_range: tuple[int, int], lowercase: bool, strip_accents: str | None
) -> None:
    from sklearn.feature_extraction.text import CountVectorizer

    theirs = CountVectorizer(
        analyzer=kind, ngram_range=ngram_range, lowercase=lowercase, strip_accents=strip_accents
    ).build_analyzer()
    ours = analyzer(
        kind,
        ngram_range,
        lowercase=lowercase,
        strip_accents=strip_accents is not None,
    )
    for text in ANALYZED:
        assert ours(text) == theirs(text), text

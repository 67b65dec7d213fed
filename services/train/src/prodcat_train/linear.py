"""The `linear` family: TF-IDF word and character n-grams and a class-balanced linear SVM whose
margins are turned into probabilities by a softmax temperature fitted on the validation split."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from pydantic import BaseModel, Field
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.svm import LinearSVC

from prodcat_core.linear_model import FeatureBlock, LinearTextModel, softmax

logger = logging.getLogger(__name__)


class LinearParams(BaseModel):
    word_ngrams: tuple[int, int] = (1, 2)
    char_ngrams: tuple[int, int] = (2, 5)
    # Character n-grams of a long description add little but cost much: read its start only.
    char_max_chars: int | None = Field(1000, gt=0)
    word_max_features: int | None = Field(300_000, gt=0)
    char_max_features: int | None = Field(300_000, gt=0)
    min_df: int = Field(2, ge=1)
    c: float = Field(0.5, gt=0, description="inverse regularisation strength of the SVM")
    class_weight: str | None = "balanced"
    max_iter: int = Field(2000, gt=0)
    seed: int = 42


def _blocks(params: LinearParams) -> list[tuple[FeatureBlock, int | None]]:
    return [
        (FeatureBlock(analyzer="word", ngram_range=params.word_ngrams), params.word_max_features),
        (
            FeatureBlock(
                analyzer="char_wb", ngram_range=params.char_ngrams, max_chars=params.char_max_chars
            ),
            params.char_max_features,
        ),
    ]


def fit_temperature(scores: npt.NDArray[np.float32], y: npt.NDArray[np.int64]) -> float:
    """The softmax temperature with the lowest negative log-likelihood on held-out scores."""
    best_t, best_nll = 1.0, np.inf
    rows = np.arange(len(y))
    for t in np.geomspace(0.01, 10.0, 61):
        proba = softmax(scores / np.float32(t))
        nll = -float(np.mean(np.log(np.clip(proba[rows, y], 1e-12, None))))
        if nll < best_nll:
            best_t, best_nll = float(t), nll
    return best_t


def fit_linear(
    train_texts: Sequence[str],
    train_y: npt.NDArray[np.int64],
    val_texts: Sequence[str],
    val_y: npt.NDArray[np.int64],
    n_classes: int,
    params: LinearParams,
) -> LinearTextModel:
    blocks: list[FeatureBlock] = []
    vocabularies: list[list[str]] = []
    idfs: list[npt.NDArray[np.float32]] = []
    matrices: list[sp.csr_matrix] = []
    for block, max_features in _blocks(params):
        logger.info(
            "fitting %s %s-grams on %d texts", block.analyzer, block.ngram_range, len(train_texts)
        )
        vectorizer = TfidfVectorizer(
            analyzer=block.analyzer,
            ngram_range=block.ngram_range,
            lowercase=block.lowercase,
            strip_accents=block.strip_accents,
            sublinear_tf=block.sublinear_tf,
            min_df=params.min_df,
            max_features=max_features,
            dtype=np.float32,
        )
        matrices.append(vectorizer.fit_transform(block.clip(train_texts)))
        blocks.append(block)
        vocabularies.append([str(t) for t in vectorizer.get_feature_names_out()])
        idfs.append(np.asarray(vectorizer.idf_, dtype=np.float32))
    x = sp.csr_matrix(sp.hstack(matrices, format="csr"))
    logger.info("fitting LinearSVC (C=%s) on %d x %d features", params.c, x.shape[0], x.shape[1])
    svm = LinearSVC(
        C=params.c,
        class_weight=params.class_weight,
        max_iter=params.max_iter,
        random_state=params.seed,
    )
    svm.fit(x, train_y)
    coef = np.zeros((n_classes, x.shape[1]), dtype=np.float32)
    intercept = np.full(n_classes, -1e3, dtype=np.float32)  # classes absent from train never win
    seen = np.asarray(svm.classes_, dtype=np.int64)
    if len(seen) == 2:  # a binary SVM has one weight vector: the first class is its negative
        coef[seen] = np.vstack([-svm.coef_[0], svm.coef_[0]])
        intercept[seen] = [-svm.intercept_[0], svm.intercept_[0]]
    else:
        coef[seen] = svm.coef_
        intercept[seen] = svm.intercept_
    model = LinearTextModel(blocks, vocabularies, idfs, coef, intercept)
    model.temperature = fit_temperature(model.decision_function(val_texts), val_y)
    logger.info("softmax temperature fitted on validation: %.3f", model.temperature)
    return model

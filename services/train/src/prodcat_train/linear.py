"""The `linear` family: TF-IDF word and character n-grams and a class-balanced linear SVM whose
margins are turned into probabilities by a softmax temperature fitted on the validation split."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from pydantic import BaseModel, Field
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import f1_score
from sklearn.svm import LinearSVC

from prodcat_core.linear_model import FeatureBlock, FloatArray, LinearTextModel, softmax

logger = logging.getLogger(__name__)


class LinearParams(BaseModel):
    word_ngrams: tuple[int, int] = (1, 2)
    char_ngrams: tuple[int, int] = (2, 5)
    # Character n-grams of a long description add little but cost much: read its start only.
    char_max_chars: int | None = Field(1000, gt=0)
    word_max_features: int | None = Field(300_000, gt=0)
    char_max_features: int | None = Field(300_000, gt=0)
    # The title says most about a listing: its own blocks give its n-grams extra weight.
    title_weight: float = Field(1.0, ge=0, description="weight of the title-only blocks; 0 = none")
    title_word_ngrams: tuple[int, int] = (1, 2)
    title_char_ngrams: tuple[int, int] = (1, 5)
    min_df: int = Field(1, ge=1, description="rarer n-grams are dropped (max_features caps size)")
    c: float = Field(0.5, gt=0, description="inverse regularisation strength of the SVM")
    c_grid: list[float] = Field(
        default_factory=list,
        description="when set, each C is tried and the best on validation weighted F1 kept",
    )
    class_weight: str | None = "balanced"
    max_iter: int = Field(2000, gt=0)
    refit: bool = Field(
        True,
        description="after choosing C and the temperature on validation, fit the linear layer "
        "again on train + validation",
    )
    seed: int = 42


def _blocks(params: LinearParams) -> list[tuple[FeatureBlock, int | None]]:
    blocks: list[tuple[FeatureBlock, int | None]] = [
        (FeatureBlock(analyzer="word", ngram_range=params.word_ngrams), params.word_max_features),
        (
            FeatureBlock(
                analyzer="char_wb", ngram_range=params.char_ngrams, max_chars=params.char_max_chars
            ),
            params.char_max_features,
        ),
    ]
    if params.title_weight > 0:
        blocks += [
            (
                FeatureBlock(
                    analyzer="word",
                    ngram_range=params.title_word_ngrams,
                    field="title",
                    weight=params.title_weight,
                ),
                params.word_max_features,
            ),
            (
                FeatureBlock(
                    analyzer="char_wb",
                    ngram_range=params.title_char_ngrams,
                    field="title",
                    weight=params.title_weight,
                ),
                params.char_max_features,
            ),
        ]
    return blocks


@dataclass(frozen=True)
class LinearFit:
    model: LinearTextModel
    c: float = field(metadata={"doc": "the C kept"})
    val_f1_by_c: dict[float, float] = field(default_factory=dict)
    # Validation probabilities of the model chosen before any refit: honest validation scores.
    val_proba: FloatArray | None = None


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
) -> LinearFit:
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
        matrices.append(
            vectorizer.fit_transform(block.clip(train_texts)) * np.float32(block.weight)
        )
        blocks.append(block)
        vocabularies.append([str(t) for t in vectorizer.get_feature_names_out()])
        idfs.append(np.asarray(vectorizer.idf_, dtype=np.float32))
    x = sp.csr_matrix(sp.hstack(matrices, format="csr"))
    # A model with an empty linear layer only to turn validation texts into features once.
    features = LinearTextModel(
        blocks,
        vocabularies,
        idfs,
        np.zeros((n_classes, x.shape[1]), np.float32),
        np.zeros(n_classes, np.float32),
    )
    x_val = features.transform(val_texts)
    best: tuple[float, float, FloatArray, FloatArray] | None = None
    tried: dict[float, float] = {}
    for c in params.c_grid or [params.c]:
        coef, intercept = _fit_svm(x, train_y, n_classes, c, params)
        scores = np.asarray(x_val @ coef.T, dtype=np.float32) + intercept
        tried[c] = float(f1_score(val_y, scores.argmax(axis=1), average="weighted"))
        logger.info("C=%s: validation weighted F1 %.4f", c, tried[c])
        if best is None or tried[c] > best[0]:
            best = (tried[c], c, coef, intercept)
    assert best is not None
    _, chosen, coef, intercept = best
    val_scores = np.asarray(x_val @ coef.T, dtype=np.float32) + intercept
    temperature = fit_temperature(val_scores, val_y)
    logger.info("chose C=%s; softmax temperature fitted on validation: %.3f", chosen, temperature)
    if params.refit:
        # The vocabularies stay those of train; only the linear layer sees the validation rows.
        logger.info("fitting the linear layer again on train + validation")
        coef, intercept = _fit_svm(
            sp.vstack([x, x_val], format="csr"),
            np.concatenate([train_y, val_y]),
            n_classes,
            chosen,
            params,
        )
    model = LinearTextModel(blocks, vocabularies, idfs, coef, intercept, temperature)
    return LinearFit(model, chosen, tried, softmax(val_scores / np.float32(temperature)))


def _fit_svm(
    x: sp.csr_matrix, y: npt.NDArray[np.int64], n_classes: int, c: float, params: LinearParams
) -> tuple[FloatArray, FloatArray]:
    logger.info("fitting LinearSVC (C=%s) on %d x %d features", c, x.shape[0], x.shape[1])
    svm = LinearSVC(
        C=c, class_weight=params.class_weight, max_iter=params.max_iter, random_state=params.seed
    )
    svm.fit(x, y)
    coef = np.zeros((n_classes, x.shape[1]), dtype=np.float32)
    intercept = np.full(n_classes, -1e3, dtype=np.float32)  # classes absent from train never win
    seen = np.asarray(svm.classes_, dtype=np.int64)
    if len(seen) == 2:  # a binary SVM has one weight vector: the first class is its negative
        coef[seen] = np.vstack([-svm.coef_[0], svm.coef_[0]])
        intercept[seen] = [-svm.intercept_[0], svm.intercept_[0]]
    else:
        coef[seen] = svm.coef_
        intercept[seen] = svm.intercept_
    return coef, intercept

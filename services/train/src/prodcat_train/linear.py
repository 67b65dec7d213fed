"""The `linear` family: TF-IDF word and character n-grams and class-balanced linear SVMs whose
margins are turned into probabilities by a softmax temperature fitted on the validation split.

Stacking (`stack_folds` >= 2, the default): one SVM per feature block (text words, text
characters, title words, title characters) and a multinomial logistic regression that weighs
their margins, fitted on out-of-fold margins so it learns how far each block can be trusted.
Every step is linear in the features, so the stack folds back into ONE linear layer: the saved
model, and serving, are the same as for a single SVM. On the real sample (benchmarks/train.py)
weighted F1 on the held-out rows went from 0.776 (one SVM) to 0.804; in 5-fold cross-validation
from 0.767 to 0.772."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from joblib import Parallel, delayed
from pydantic import BaseModel, Field
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.svm import LinearSVC

from prodcat_core.cpus import available_cpus
from prodcat_core.linear_model import FeatureBlock, FloatArray, LinearTextModel, softmax

logger = logging.getLogger(__name__)

# A class absent from an SVM's training rows: its intercept, and its margin as the combiner sees
# it.
ABSENT_INTERCEPT = -1e3
ABSENT_MARGIN = 5.0


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
    stack_folds: int = Field(
        5,
        ge=0,
        description="0 or 1: one SVM on all blocks; k >= 2: one SVM per block, combined by a "
        "logistic regression fitted on their k-fold out-of-fold margins",
    )
    stack_meta_rows: int = Field(
        8000,
        ge=100,
        description="out-of-fold rows the combiner is fitted on: on large data only the first "
        "folds are scored (each scored fold costs one more SVM fit per block)",
    )
    meta_c: float = Field(1.0, gt=0, description="inverse regularisation of the combiner")
    n_jobs: int | None = Field(
        None,
        ge=1,
        description="processes fitting SVMs at once (at most one per feature block); unset: CPUs",
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
    tried: dict[float, float] = {}
    chosen = params.c
    if params.c_grid:
        best_f1 = -1.0
        for c in params.c_grid:
            coef, intercept = _fit_svm(x, train_y, n_classes, c, params)
            scores = np.asarray(x_val @ coef.T, dtype=np.float32) + intercept
            tried[c] = float(f1_score(val_y, scores.argmax(axis=1), average="weighted"))
            logger.info("C=%s: validation weighted F1 %.4f", c, tried[c])
            if tried[c] > best_f1:
                best_f1, chosen = tried[c], c
    views = _views(matrices) if params.stack_folds >= 2 else [slice(0, x.shape[1])]
    # Every SVM fit is independent of the others (the combiner only mixes their margins), so
    # the stacking folds, the fits on train and the refit on train + validation go to the
    # workers as one list: no worker idles at the end of one phase while another finishes.
    folds = _folds(train_y, params) if len(views) > 1 else []
    x_all = sp.vstack([x, x_val], format="csr") if params.refit else x
    y_all = np.concatenate([train_y, val_y]) if params.refit else train_y
    phases: list[tuple[sp.csr_matrix, npt.NDArray[np.int64]]] = [
        *_fold_rows(x, train_y, folds),
        (x, train_y),
        *([(x_all, y_all)] if params.refit else []),
    ]
    if folds:
        logger.info(
            "stacking %d blocks: out-of-fold margins on %d of %d rows (%d folds)",
            len(views),
            sum(len(f) for f in folds),
            len(train_y),
            len(folds),
        )
    per_phase = _fit_svms(phases, views, n_classes, chosen, params)
    combiner = (
        _fit_combiner(x, train_y, n_classes, views, folds, per_phase[: len(folds)], params)
        if folds
        else None
    )
    coef, intercept = _fold_views(n_classes, x.shape[1], views, per_phase[len(folds)], combiner)
    val_scores = np.asarray(x_val @ coef.T, dtype=np.float32) + intercept
    temperature = fit_temperature(val_scores, val_y)
    logger.info(
        "C=%s, %d SVM(s)%s; validation weighted F1 %.4f; softmax temperature %.3f",
        chosen,
        len(views),
        " stacked" if combiner is not None else "",
        f1_score(val_y, val_scores.argmax(axis=1), average="weighted"),
        temperature,
    )
    if params.refit:
        # The vocabularies and the combiner stay those of train; the SVMs saw the validation
        # rows too.
        coef, intercept = _fold_views(n_classes, x.shape[1], views, per_phase[-1], combiner)
    model = LinearTextModel(blocks, vocabularies, idfs, coef, intercept, temperature)
    return LinearFit(model, chosen, tried, softmax(val_scores / np.float32(temperature)))


def _seen_margin(intercept: FloatArray) -> FloatArray:
    """An SVM's intercepts as the combiner sees them: a class the SVM never saw (intercept -1e3,
    no weights) gets a plain "no" margin instead of one that would swamp the combiner."""
    return np.where(intercept <= ABSENT_INTERCEPT, np.float32(-ABSENT_MARGIN), intercept).astype(
        np.float32
    )


def _views(matrices: Sequence[sp.csr_matrix]) -> list[slice]:
    """The column range of each block in the stacked feature matrix."""
    bounds = np.cumsum([0, *(m.shape[1] for m in matrices)])
    return [slice(int(a), int(b)) for a, b in itertools.pairwise(bounds)]


@dataclass(frozen=True)
class Combiner:
    """Scores = sum over views of weights[v] @ margins[v] + intercept (the fitted combiner)."""

    weights: list[FloatArray]  # per view: (n_classes, n_classes)
    intercept: FloatArray


def _workers(params: LinearParams, tasks: int) -> int:
    cpus = params.n_jobs or available_cpus()  # the Job's CPU limit, not the node's cores
    return max(1, min(cpus, tasks))


def _fit_svms(
    phases: Sequence[tuple[sp.csr_matrix, npt.NDArray[np.int64]]],
    views: list[slice],
    n_classes: int,
    c: float,
    params: LinearParams,
) -> list[list[tuple[FloatArray, FloatArray]]]:
    """One SVM per view for each (rows, labels) phase, several at once in worker processes:
    liblinear's solver draws from C's process-wide rand(), so fits side by side in threads made
    different models from the same data and seed. The costliest fits (most non-zeros) start
    first, so that the last ones to finish are short; each view's columns are cut only when its
    fit is dispatched, and joblib memory-maps the large arrays instead of copying them."""
    jobs = [(p, v) for p in range(len(phases)) for v in range(len(views))]
    view_nnz = [_nnz_in(phases[-1][0], view) for view in views]
    jobs.sort(key=lambda job: -phases[job[0]][0].shape[0] * view_nnz[job[1]])

    # At most one fit per view at once, as when the phases ran one after another: each fit
    # holds liblinear's own copy of its rows, and a node's many cores must not multiply that.
    workers = _workers(params, len(views))
    fits = Parallel(n_jobs=workers, backend="loky")(  # 1: in this process
        delayed(_fit_svm)(phases[p][0][:, views[v]], phases[p][1], n_classes, c, params)
        for p, v in jobs
    )
    by_job = dict(zip(jobs, fits, strict=True))
    return [[by_job[(p, v)] for v in range(len(views))] for p in range(len(phases))]


def _nnz_in(x: sp.csr_matrix, view: slice) -> int:
    return int(np.count_nonzero((x.indices >= view.start) & (x.indices < view.stop)))


def _folds(y: npt.NDArray[np.int64], params: LinearParams) -> list[npt.NDArray[np.int64]]:
    """Held-out row indices of the scored folds: stratified when every class can be split."""
    k = params.stack_folds
    counts = np.bincount(y)
    splitter: StratifiedKFold | KFold = (
        StratifiedKFold(k, shuffle=True, random_state=params.seed)
        if counts[counts > 0].min() >= k
        else KFold(k, shuffle=True, random_state=params.seed)
    )
    scored: list[npt.NDArray[np.int64]] = []
    for _, held_out in splitter.split(np.zeros(len(y)), y):
        scored.append(np.asarray(held_out, dtype=np.int64))
        if sum(len(f) for f in scored) >= params.stack_meta_rows:
            break
    return scored


def _fold_rows(
    x: sp.csr_matrix, y: npt.NDArray[np.int64], folds: list[npt.NDArray[np.int64]]
) -> list[tuple[sp.csr_matrix, npt.NDArray[np.int64]]]:
    """Each stacking fold's training rows (all rows but the held-out ones)."""
    kept = []
    for held_out in folds:
        keep = np.ones(len(y), dtype=bool)
        keep[held_out] = False
        kept.append((x[keep], y[keep]))  # row selection once per fold, not once per view
    return kept


def _fit_combiner(
    x: sp.csr_matrix,
    y: npt.NDArray[np.int64],
    n_classes: int,
    views: list[slice],
    folds: list[npt.NDArray[np.int64]],
    fold_fits: list[list[tuple[FloatArray, FloatArray]]],
    params: LinearParams,
) -> Combiner:
    """The logistic regression over the views' out-of-fold margins (`fold_fits[i]`: the views'
    SVMs fitted without fold i)."""
    margins = []
    for held_out, per_view in zip(folds, fold_fits, strict=True):
        x_held = x[held_out]
        margins.append(
            np.hstack(
                [
                    np.asarray(x_held[:, view] @ coef.T, dtype=np.float32) + _seen_margin(intercept)
                    for view, (coef, intercept) in zip(views, per_view, strict=True)
                ]
            )
        )
    z = np.vstack(margins)
    z_y = np.concatenate([y[f] for f in folds])
    meta = LogisticRegression(
        C=params.meta_c, class_weight=params.class_weight, max_iter=params.max_iter
    )
    meta.fit(z, z_y)
    weights = np.zeros((n_classes, z.shape[1]), dtype=np.float32)
    intercept = np.full(n_classes, ABSENT_INTERCEPT, dtype=np.float32)  # never seen: never wins
    seen = np.asarray(meta.classes_, dtype=np.int64)
    if len(seen) == 2:  # a binary regression has one weight vector for its second class
        weights[seen] = np.vstack([-meta.coef_[0], meta.coef_[0]]) / 2
        intercept[seen] = np.asarray([-meta.intercept_[0], meta.intercept_[0]]) / 2
    else:
        weights[seen] = meta.coef_
        intercept[seen] = meta.intercept_
    return Combiner(
        [weights[:, i * n_classes : (i + 1) * n_classes] for i in range(len(views))], intercept
    )


def _fold_views(
    n_classes: int,
    n_features: int,
    views: list[slice],
    fitted: list[tuple[FloatArray, FloatArray]],
    combiner: Combiner | None,
) -> tuple[FloatArray, FloatArray]:
    """The views' SVMs folded with the combiner into one linear layer over all features."""
    if combiner is None:
        (only,) = fitted
        return only
    coef = np.zeros((n_classes, n_features), dtype=np.float32)
    intercept = combiner.intercept.copy()
    for view, weights, (view_coef, view_intercept) in zip(
        views, combiner.weights, fitted, strict=True
    ):
        coef[:, view] = weights @ view_coef
        intercept += weights @ _seen_margin(view_intercept)
    return coef, intercept


def _fit_svm(
    x: sp.csr_matrix, y: npt.NDArray[np.int64], n_classes: int, c: float, params: LinearParams
) -> tuple[FloatArray, FloatArray]:
    logger.info("fitting LinearSVC (C=%s) on %d x %d features", c, x.shape[0], x.shape[1])
    svm = LinearSVC(
        C=c, class_weight=params.class_weight, max_iter=params.max_iter, random_state=params.seed
    )
    svm.fit(x, y)
    coef = np.zeros((n_classes, x.shape[1]), dtype=np.float32)
    intercept = np.full(n_classes, ABSENT_INTERCEPT, dtype=np.float32)  # absent: never wins
    seen = np.asarray(svm.classes_, dtype=np.int64)
    if len(seen) == 2:  # a binary SVM has one weight vector: the first class is its negative
        coef[seen] = np.vstack([-svm.coef_[0], svm.coef_[0]])
        intercept[seen] = [-svm.intercept_[0], svm.intercept_[0]]
    else:
        coef[seen] = svm.coef_
        intercept[seen] = svm.intercept_
    return coef, intercept

"""The linear family: choice of C on validation, stacking folded into one layer, temperature,
classes absent from train."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from sklearn.metrics import f1_score
from sklearn.svm import LinearSVC

from prodcat_core.labels import LabelCodec
from prodcat_core.linear_model import softmax
from prodcat_core.text import listing_texts
from prodcat_data.synthetic import generate_listings
from prodcat_train.linear import (
    LinearParams,
    _fit_combiner,
    _fit_svms,
    _fold_rows,
    _fold_views,
    _folds,
    _seen_margin,
    _views,
    fit_linear,
    fit_temperature,
)


def _params(**overrides: object) -> LinearParams:
    return LinearParams.model_validate(
        {"word_max_features": 5000, "char_max_features": 5000, **overrides}
    )


def _data(n: int, seed: int) -> tuple[list[str], npt.NDArray[np.int64], LabelCodec]:
    x, y = generate_listings(n, seed)
    codec = LabelCodec.from_codes(y["prdtypecode"])
    texts = listing_texts(x["designation"].tolist(), x["description"].tolist())
    return texts, codec.encode(y["prdtypecode"].to_numpy()), codec


def test_the_c_with_the_best_validation_f1_is_kept() -> None:
    train, y_train, codec = _data(900, 1)
    val, y_val, _ = _data(300, 2)
    params = _params(c_grid=[0.001, 0.5], stack_folds=0)  # one SVM: its val scores are kept
    fit = fit_linear(train, y_train, val, y_val, codec.n_classes, params)
    assert set(fit.val_f1_by_c) == {0.001, 0.5}
    assert fit.c == max(fit.val_f1_by_c, key=lambda c: fit.val_f1_by_c[c])
    assert fit.val_proba is not None  # scores of the chosen model before its refit
    predicted = fit.val_proba.argmax(axis=1)
    assert f1_score(y_val, predicted, average="weighted") == pytest.approx(fit.val_f1_by_c[fit.c])
    assert f1_score(y_val, predicted, average="weighted") > 0.5


def test_the_refit_sees_validation_rows_and_keeps_the_vocabulary() -> None:
    train, y_train, codec = _data(600, 5)
    val, y_val, _ = _data(300, 6)
    refit = fit_linear(train, y_train, val, y_val, codec.n_classes, _params())
    once = fit_linear(train, y_train, val, y_val, codec.n_classes, _params(refit=False))
    assert refit.model.vocabularies == once.model.vocabularies
    assert refit.model.temperature == once.model.temperature
    assert not np.array_equal(refit.model.coef, once.model.coef)
    seen = f1_score(y_val, refit.model.predict_proba(val).argmax(axis=1), average="weighted")
    unseen = f1_score(y_val, once.model.predict_proba(val).argmax(axis=1), average="weighted")
    assert seen > unseen  # it learned from the validation rows it was refitted on


def test_parallel_fits_give_the_same_model_every_time() -> None:
    # liblinear draws from C's process-wide rand(): fits side by side in threads raced on it.
    train, y_train, codec = _data(1200, 9)
    val, y_val, _ = _data(200, 10)
    params = _params(n_jobs=2)
    first, second = (
        fit_linear(train, y_train, val, y_val, codec.n_classes, params).model for _ in range(2)
    )
    np.testing.assert_array_equal(first.coef, second.coef)
    np.testing.assert_array_equal(first.intercept, second.intercept)


def test_title_blocks_are_optional() -> None:
    train, y_train, codec = _data(600, 3)
    with_title = fit_linear(train, y_train, train[:100], y_train[:100], codec.n_classes, _params())
    without = fit_linear(
        train,
        y_train,
        train[:100],
        y_train[:100],
        codec.n_classes,
        _params(title_weight=0),
    )
    assert [b.field for b in with_title.model.blocks] == ["text", "text", "title", "title"]
    assert [b.field for b in without.model.blocks] == ["text", "text"]


def test_temperature_minimises_validation_log_loss() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 500)
    scores = rng.normal(size=(500, 4)).astype(np.float32)
    scores[np.arange(500), y] += 2.0  # informative margins: a sharper softmax fits them better
    t = fit_temperature(scores, y)

    def nll(temp: float) -> float:
        return -float(np.mean(np.log(softmax(scores / np.float32(temp))[np.arange(500), y])))

    assert nll(t) <= min(nll(t * 2), nll(t / 2))


def test_a_class_missing_from_train_is_never_predicted() -> None:
    train, y_train, codec = _data(600, 4)
    keep = y_train != 0
    kept = [t for t, k in zip(train, keep, strict=True) if k]
    fit = fit_linear(
        kept, y_train[keep], kept[:50], y_train[keep][:50],
        codec.n_classes, _params(),
    )  # fmt: skip
    assert fit.model.n_classes == codec.n_classes
    assert (fit.model.predict_proba(train).argmax(axis=1) != 0).all()


def test_the_stack_folds_into_one_linear_layer_that_scores_like_the_stack() -> None:
    """The saved layer gives the same scores as running each block's SVM and the combiner."""
    train, y_train, codec = _data(700, 8)
    test, _, _ = _data(100, 9)
    params = _params(stack_folds=3, n_jobs=2)
    model = fit_linear(train, y_train, train[:100], y_train[:100], codec.n_classes, params).model
    x, x_test = model.transform(train), model.transform(test)
    views = _views([x[:, : len(v)] for v in model.vocabularies])
    assert len(views) == 4
    assert views[-1].stop == x.shape[1]
    folds = _folds(y_train, params)
    phases = [*_fold_rows(x, y_train, folds), (x, y_train)]
    per_phase = _fit_svms(phases, views, codec.n_classes, params.c, params)
    combiner = _fit_combiner(x, y_train, codec.n_classes, views, folds, per_phase[:-1], params)
    coef, intercept = _fold_views(codec.n_classes, x.shape[1], views, per_phase[-1], combiner)
    stacked = combiner.intercept.copy()
    for view, weights in zip(views, combiner.weights, strict=True):
        svm = LinearSVC(C=params.c, class_weight="balanced", random_state=params.seed)
        svm.fit(x[:, view], y_train)
        margins = np.full((x_test.shape[0], codec.n_classes), -1e3, dtype=np.float32)
        margins[:, svm.classes_] = svm.decision_function(x_test[:, view])
        stacked = stacked + _seen_margin(margins) @ weights.T
    folded = np.asarray(x_test @ coef.T) + intercept
    np.testing.assert_allclose(folded, stacked, rtol=1e-3, atol=1e-3)


def test_stacking_handles_classes_too_rare_to_stratify() -> None:
    train, y_train, codec = _data(400, 10)
    rare = np.flatnonzero(y_train == y_train[0])[:1]  # one class down to a single row
    keep = np.ones(len(y_train), dtype=bool)
    keep[np.flatnonzero(y_train == y_train[0])] = False
    keep[rare] = True
    texts = [t for t, k in zip(train, keep, strict=True) if k]
    fit = fit_linear(texts, y_train[keep], texts[:60], y_train[keep][:60], codec.n_classes,
                     _params(stack_folds=5))  # fmt: skip
    proba = fit.model.predict_proba(texts)
    assert proba.shape == (len(texts), codec.n_classes)
    assert np.allclose(proba.sum(axis=1), 1.0, atol=1e-4)
    assert f1_score(y_train[keep], proba.argmax(axis=1), average="weighted") > 0.5

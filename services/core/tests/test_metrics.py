"""Metrics: F1 as scikit-learn computes it, ECE, per-class scores, confusion."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

from prodcat_core.labels import LabelCodec
from prodcat_core.metrics import confusion, expected_calibration_error, score

CODEC = LabelCodec.from_codes([10, 40, 50, 60])


def _one_hot(indexes: npt.NDArray[np.int64], n: int) -> npt.NDArray[np.float32]:
    return np.eye(n, dtype=np.float32)[indexes]


def _random_case(seed: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, CODEC.n_classes, size=200).astype(np.int64)
    logits = rng.normal(size=(200, CODEC.n_classes)).astype(np.float32)
    logits[np.arange(200), y_true] += 1.0  # better than chance, not perfect
    proba = np.exp(logits)
    proba /= proba.sum(axis=1, keepdims=True)
    return y_true, proba


def test_ece_is_zero_for_perfect_one_hot_predictions() -> None:
    y = np.array([0, 1, 2, 3, 3, 2, 1, 0], dtype=np.int64)
    proba = _one_hot(y, 4)
    assert expected_calibration_error(proba, proba.argmax(axis=1) == y) == 0.0
    assert score(y, proba, CODEC).ece == 0.0


def test_ece_is_one_for_confident_wrong_predictions() -> None:
    y = np.array([0, 1, 2, 3], dtype=np.int64)
    proba = _one_hot((y + 1) % 4, 4)
    assert expected_calibration_error(proba, proba.argmax(axis=1) == y) == pytest.approx(1.0)


def test_ece_is_the_weighted_gap_per_bin() -> None:
    proba = np.array([[0.9, 0.1], [0.9, 0.1], [0.3, 0.7], [0.7, 0.3]], dtype=np.float32)
    correct = np.array([True, False, True, True])
    # Confidences: 0.9, 0.9, 0.7, 0.7 -> bins of 0.9 (acc 0.5) and 0.7 (acc 1.0).
    expected = 0.5 * abs(0.5 - 0.9) + 0.5 * abs(1.0 - 0.7)
    assert expected_calibration_error(proba, correct, bins=10) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_scores_match_scikit_learn(seed: int) -> None:
    y_true, proba = _random_case(seed)
    y_pred = proba.argmax(axis=1)
    result = score(y_true, proba, CODEC)
    assert result.n == 200
    assert result.weighted_f1 == pytest.approx(f1_score(y_true, y_pred, average="weighted"))
    assert result.macro_f1 == pytest.approx(f1_score(y_true, y_pred, average="macro"))
    assert result.accuracy == pytest.approx(accuracy_score(y_true, y_pred))
    per_class_f1 = f1_score(y_true, y_pred, average=None, labels=[0, 1, 2, 3])
    for i, code in enumerate(CODEC.codes):
        assert result.per_class[code].f1 == pytest.approx(per_class_f1[i])
        assert result.per_class[code].support == int((y_true == i).sum())
        assert result.per_class[code].name == CODEC.names[i]
    assert 0.0 < result.ece < 1.0
    assert result.headline() == {
        "weighted_f1": result.weighted_f1,
        "macro_f1": result.macro_f1,
        "accuracy": result.accuracy,
        "ece": result.ece,
    }


def test_a_class_absent_from_the_rows_scores_zero_without_warnings() -> None:
    y_true = np.array([0, 0, 1, 1], dtype=np.int64)
    proba = _one_hot(np.array([0, 0, 1, 0], dtype=np.int64), 4)
    result = score(y_true, proba, CODEC)
    assert result.per_class[50].support == 0
    assert result.per_class[50].f1 == 0.0
    assert result.per_class[60].precision == 0.0
    # Macro F1 averages over every class of the codec, absent ones included.
    expected = f1_score(
        y_true, proba.argmax(axis=1), labels=[0, 1, 2, 3], average="macro", zero_division=0
    )
    assert result.macro_f1 == pytest.approx(expected)


def test_confusion() -> None:
    y_true = np.array([0, 1, 2, 2], dtype=np.int64)
    y_pred = np.array([0, 2, 2, 1], dtype=np.int64)
    matrix = confusion(y_true, y_pred, 4)
    assert matrix.shape == (4, 4)
    assert matrix.dtype == np.int64
    np.testing.assert_array_equal(matrix, confusion_matrix(y_true, y_pred, labels=[0, 1, 2, 3]))

"""Classification metrics, computed one way for training reports, evaluation and the gate."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)

from prodcat_core.labels import LabelCodec


class ClassScores(BaseModel):
    name: str
    precision: float
    recall: float
    f1: float
    support: int


class Scores(BaseModel):
    n: int
    weighted_f1: float
    macro_f1: float
    accuracy: float
    ece: float
    per_class: dict[int, ClassScores]

    def headline(self) -> dict[str, float]:
        return {
            "weighted_f1": self.weighted_f1,
            "macro_f1": self.macro_f1,
            "accuracy": self.accuracy,
            "ece": self.ece,
        }


def expected_calibration_error(
    proba: npt.NDArray[np.float32], correct: npt.NDArray[np.bool_], bins: int = 15
) -> float:
    """Top-label ECE: the gap between confidence and accuracy, averaged over confidence bins."""
    confidence = proba.max(axis=1)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            total += mask.mean() * abs(float(correct[mask].mean()) - float(confidence[mask].mean()))
    return float(total)


def score(
    y_true: npt.NDArray[np.int64], proba: npt.NDArray[np.float32], codec: LabelCodec
) -> Scores:
    """Scores class-index labels against predicted probabilities (columns in codec order)."""
    y_pred = proba.argmax(axis=1)
    labels = np.arange(codec.n_classes)
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    return Scores(
        n=len(y_true),
        weighted_f1=float(
            f1_score(y_true, y_pred, labels=labels, average="weighted", zero_division=0)
        ),
        macro_f1=float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
        accuracy=float(accuracy_score(y_true, y_pred)),
        ece=expected_calibration_error(proba, y_pred == y_true),
        per_class={
            code: ClassScores(
                name=codec.names[i],
                precision=float(precision[i]),
                recall=float(recall[i]),
                f1=float(f1[i]),
                support=int(support[i]),
            )
            for i, code in enumerate(codec.codes)
        },
    )


def confusion(
    y_true: npt.NDArray[np.int64], y_pred: npt.NDArray[np.int64], n_classes: int
) -> npt.NDArray[np.int64]:
    return np.asarray(confusion_matrix(y_true, y_pred, labels=np.arange(n_classes)), dtype=np.int64)

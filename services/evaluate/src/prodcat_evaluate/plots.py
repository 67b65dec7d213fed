"""Plots of an evaluation: the confusion matrix, row-normalised so small classes stay readable."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.pyplot as plt
import numpy as np
import numpy.typing as npt

from prodcat_core.labels import LabelCodec


def confusion_matrix_png(
    matrix: npt.NDArray[np.int64], codec: LabelCodec, path: Path, title: str
) -> Path:
    totals = matrix.sum(axis=1, keepdims=True)
    share = np.divide(matrix, totals, out=np.zeros(matrix.shape, dtype=float), where=totals > 0)
    n = codec.n_classes
    fig, ax = plt.subplots(figsize=(4 + 0.42 * n, 3 + 0.38 * n), dpi=110)
    image = ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
    labels = [f"{code} {name[:22]}" for code, name in zip(codec.codes, codec.names, strict=True)]
    ax.set_xticks(range(n), [str(c) for c in codec.codes], rotation=90, fontsize=7)
    ax.set_yticks(range(n), labels, fontsize=7)
    ax.set_xlabel("predicted prdtypecode")
    ax.set_ylabel("true prdtypecode")
    ax.set_title(title, fontsize=9)
    for i in range(n):
        for j in range(n):
            if matrix[i, j]:
                ax.text(
                    j,
                    i,
                    str(matrix[i, j]),
                    ha="center",
                    va="center",
                    fontsize=5,
                    color="white" if share[i, j] > 0.5 else "black",
                )
    fig.colorbar(image, ax=ax, fraction=0.03, label="share of the true class")
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return path

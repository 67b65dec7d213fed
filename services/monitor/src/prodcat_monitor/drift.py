"""Distances between a live distribution and its reference, over the same bins."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

# Floor of a reference share: a bin the reference never saw still has a finite weight.
REFERENCE_FLOOR = 1e-4

FloatArray = npt.NDArray[np.float64]


def smoothed_shares(counts: npt.ArrayLike) -> FloatArray:
    """Live counts -> shares with half a count added to every bin (Jeffreys), so that a small
    window's empty bins do not read as a total loss (log of zero) and inflate PSI."""
    array = np.asarray(counts, dtype=np.float64) + 0.5
    return np.asarray(array / array.sum(), dtype=np.float64)


def reference_shares(shares: Sequence[float]) -> FloatArray:
    array = np.maximum(np.asarray(shares, dtype=np.float64), REFERENCE_FLOOR)
    return np.asarray(array / array.sum(), dtype=np.float64)


def psi(live: FloatArray, reference: FloatArray) -> float:
    """Population stability index: sum (live - ref) * ln(live / ref). Both are shares > 0."""
    return float(np.sum((live - reference) * np.log(live / reference)))


def js_distance(live: FloatArray, reference: FloatArray) -> float:
    """Jensen-Shannon distance (base 2, so in [0, 1]): sqrt of the JS divergence."""
    mean = (live + reference) / 2.0

    def kl(p: FloatArray) -> float:
        nonzero = p > 0
        return float(np.sum(p[nonzero] * np.log2(p[nonzero] / mean[nonzero])))

    return float(np.sqrt(max(0.0, (kl(live) + kl(reference)) / 2.0)))

"""The reference profile a training run stores with its model (prodcat_core.reference_profile):
measured on the test split with the model as it will be served, written into the artifact so the
artifact's file hashes cover it."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from prodcat_core.datasets import PreparedData
from prodcat_core.reference_profile import PROFILE_FILE, ReferenceProfile, build_profile

logger = logging.getLogger(__name__)

PredictProba = Callable[[list[str]], npt.NDArray[np.float32]]


def measure_profile(
    data: PreparedData, train_texts: Sequence[str], predict_proba: PredictProba, model_id: str
) -> ReferenceProfile | None:
    """The profile, or None (logged) when the prepared version has no test rows."""
    test = data.split("test")
    if test.empty:
        logger.warning("%s has no test rows: the model gets no reference profile", data.id)
        return None
    started = time.perf_counter()
    texts = test["text"].tolist()
    profile = build_profile(
        class_codes=data.codec.codes,
        train_texts=train_texts,
        test_texts=texts,
        test_probs=predict_proba(texts),
        test_codes=test["prdtypecode"].to_numpy(),
        model_id=model_id,
    )
    logger.info(
        "reference profile: %d test rows, accuracy %.4f, mean confidence %.4f, %d words, "
        "OOV rate %s, in %.1fs",
        profile.rows,
        profile.accuracy,
        profile.confidence_mean,
        len(profile.vocabulary),
        "n/a" if profile.oov_rate is None else f"{profile.oov_rate:.4f}",
        time.perf_counter() - started,
    )
    return profile


def with_profile(
    write_model: Callable[[Path], list[str]], profile: ReferenceProfile | None
) -> Callable[[Path], list[str]]:
    """`write_model` that also writes profile.json (listed, so that it is hashed)."""
    if profile is None:
        return write_model

    def write(folder: Path) -> list[str]:
        names = write_model(folder)
        profile.save(folder)
        return [*names, PROFILE_FILE]

    return write

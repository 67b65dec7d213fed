"""The reference profile: what normal looks like for one model, stored with the model.

Training measures it on the test split (what the model answers on rows like its training rows)
and writes `profile.json` into the artifact, where it is covered by the artifact's file hashes, and
logs it with the training run. `prodcat monitor` compares a window of the inference log with it.
Artifacts written before profiles existed have none: `ReferenceProfile.load` returns None and the
monitor reports that it cannot compare.

Words are French-aware: lower-cased, accents kept (the OOV check of English-centric tools strips
them and so counts "été" and "ete" as one word), Unicode letter runs of two letters or more (so
elided articles "l'", "d'" fall away), and the vocabulary is the model's own training texts, not
an English word list fetched at run time."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, Field, ValidationError

from prodcat_core.errors import InvalidInputError
from prodcat_core.inference_log import description_empty
from prodcat_core.store import write_text_atomic

PROFILE_FILE = "profile.json"
PROFILE_FORMAT_VERSION = 1

# Internal cut points of the confidence histogram: ten bins of width 0.1 over [0, 1].
CONFIDENCE_CUTS: tuple[float, ...] = tuple(round(0.1 * i, 1) for i in range(1, 10))
# Text-length bins are the deciles of the training texts' lengths, so each holds ~10 % at training.
TEXT_LENGTH_QUANTILES: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
LOW_CONFIDENCE = 0.5
VOCABULARY_SIZE = 50_000

_WORD = re.compile(r"[^\W\d_]{2,}")


def words(text: str) -> list[str]:
    """A text's words as the OOV rate counts them (see the module's docstring)."""
    return _WORD.findall(text.lower())


def build_vocabulary(texts: Iterable[str], size: int = VOCABULARY_SIZE) -> list[str]:
    """The `size` most frequent words of `texts`, most frequent first (ties by word)."""
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(words(text))
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [word for word, _ in ranked[:size]]


def oov_rate(texts: Iterable[str], vocabulary: frozenset[str] | set[str]) -> float | None:
    """Share of the texts' words that are not in `vocabulary`; None when there is no word."""
    total = unknown = 0
    for text in texts:
        found = words(text)
        total += len(found)
        unknown += sum(1 for w in found if w not in vocabulary)
    return unknown / total if total else None


def bin_shares(values: npt.ArrayLike, cuts: Sequence[float]) -> list[float]:
    """Share of `values` in each of the len(cuts) + 1 bins the cut points make (a value equal to a
    cut goes to the bin above it). All zeros when there is no value."""
    array = np.asarray(values, dtype=np.float64)
    counts = np.bincount(
        np.searchsorted(np.asarray(cuts, dtype=np.float64), array, side="right"),
        minlength=len(cuts) + 1,
    )
    total = counts.sum()
    return [float(c) / total if total else 0.0 for c in counts]


class ReferenceProfile(BaseModel):
    """Measured on the test split unless the field says otherwise. Class keys are prdtypecodes
    as strings (JSON object keys)."""

    format_version: int = PROFILE_FORMAT_VERSION
    model_id: str | None = None
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    rows: int = Field(description="test rows measured")
    class_shares: dict[str, float] = Field(description="share of each predicted class")
    accuracy: float = Field(description="test accuracy")
    confidence_mean: float = Field(description="mean max-probability (calibrated)")
    confidence_cuts: list[float] = Field(default_factory=lambda: list(CONFIDENCE_CUTS))
    confidence_hist: list[float] = Field(description="share of answers per confidence bin")
    low_confidence_threshold: float = LOW_CONFIDENCE
    low_confidence_share: float = Field(description="share of answers below the threshold")
    text_chars_quantiles: dict[str, float] = Field(description="quantile -> characters (train)")
    text_chars_cuts: list[float] = Field(description="length bin cut points: training deciles")
    text_chars_hist: list[float] = Field(description="share of test texts per length bin")
    text_chars_median: float
    empty_description_share: float
    vocabulary: list[str] = Field(description="most frequent training words (see words())")
    oov_rate: float | None = Field(description="share of test words not in the vocabulary")

    def save(self, folder: Path) -> Path:
        path = folder / PROFILE_FILE
        write_text_atomic(path, self.model_dump_json(indent=1) + "\n")
        return path

    @classmethod
    def load(cls, folder: Path) -> ReferenceProfile | None:
        """The profile stored in an artifact folder; None for an artifact that has none."""
        path = folder / PROFILE_FILE
        if not path.is_file():
            return None
        try:
            return cls.model_validate(json.loads(path.read_text(encoding="utf-8")))
        except (ValueError, ValidationError) as e:
            raise InvalidInputError(f"{path}: not a valid reference profile: {e}") from e


def build_profile(
    *,
    class_codes: Sequence[int],
    train_texts: Sequence[str],
    test_texts: Sequence[str],
    test_probs: npt.NDArray[np.floating],
    test_codes: Sequence[int] | npt.NDArray[np.integer],
    model_id: str | None = None,
    vocabulary_size: int = VOCABULARY_SIZE,
) -> ReferenceProfile:
    """Measures the profile. `test_probs` is (rows, classes) in class-index order, `class_codes`
    the prdtypecode of each index, `test_codes` the true prdtypecodes of the test rows."""
    probs = np.asarray(test_probs, dtype=np.float64)
    if probs.ndim != 2 or probs.shape != (len(test_texts), len(class_codes)) or not len(probs):
        raise InvalidInputError(
            f"reference profile: probabilities of shape {probs.shape} do not match "
            f"{len(test_texts)} test texts and {len(class_codes)} classes"
        )
    codes = np.asarray(class_codes, dtype=np.int64)
    predicted = codes[probs.argmax(axis=1)]
    confidence = probs.max(axis=1)
    counts = np.bincount(probs.argmax(axis=1), minlength=len(codes))
    train_chars = np.fromiter((len(t) for t in train_texts), dtype=np.float64)
    if not len(train_chars):
        raise InvalidInputError("reference profile: no training text")
    test_chars = np.fromiter((len(t) for t in test_texts), dtype=np.float64)
    levels = (0.05, *TEXT_LENGTH_QUANTILES, 0.95)
    quantiles = np.quantile(train_chars, levels)
    cuts = sorted({float(q) for q in np.quantile(train_chars, TEXT_LENGTH_QUANTILES)})
    vocabulary = build_vocabulary(train_texts, vocabulary_size)
    return ReferenceProfile(
        model_id=model_id,
        rows=len(test_texts),
        class_shares={
            str(int(c)): float(n) / len(probs) for c, n in zip(codes, counts, strict=True)
        },
        accuracy=float(np.mean(predicted == np.asarray(test_codes, dtype=np.int64))),
        confidence_mean=float(confidence.mean()),
        confidence_hist=bin_shares(confidence, CONFIDENCE_CUTS),
        low_confidence_share=float(np.mean(confidence < LOW_CONFIDENCE)),
        text_chars_quantiles={
            str(level): float(q) for level, q in zip(levels, quantiles, strict=True)
        },
        text_chars_cuts=cuts,
        text_chars_hist=bin_shares(test_chars, cuts),
        text_chars_median=float(np.median(test_chars)),
        empty_description_share=float(np.mean([description_empty(t) for t in test_texts])),
        vocabulary=vocabulary,
        oov_rate=oov_rate(test_texts, frozenset(vocabulary)),
    )

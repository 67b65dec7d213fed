"""Inference for the `linear` family: TF-IDF n-gram blocks and a linear layer with a softmax
temperature, stored as JSON (vocabularies, settings) and a NumPy archive (weights).

Fitting lives in the train stage; this module only needs the numbers, so a server loads a linear
model with no pickle and no training code. `transform` reproduces scikit-learn's TfidfVectorizer
(counts, optional sublinear tf, idf, L2 norm) exactly; a test holds it to that."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from pydantic import BaseModel, Field
from sklearn.feature_extraction.text import CountVectorizer

from prodcat_core.errors import InvalidInputError
from prodcat_core.text import listing_title

FEATURES_FILE = "linear/features.json"
WEIGHTS_FILE = "linear/weights.npz"
MODEL_FILES = (FEATURES_FILE, WEIGHTS_FILE)

FloatArray = npt.NDArray[np.float32]


class FeatureBlock(BaseModel):
    """One TF-IDF block: how text becomes n-grams, and how many characters it reads."""

    analyzer: Literal["word", "char_wb", "char"]
    ngram_range: tuple[int, int]
    field: Literal["text", "title"] = Field(
        "text", description="the whole listing text, or only its title (first line)"
    )
    weight: float = Field(1.0, gt=0, description="scale of this block's features")
    max_chars: int | None = Field(None, description="only the first max_chars characters are read")
    sublinear_tf: bool = True
    strip_accents: Literal["unicode"] | None = None
    lowercase: bool = True

    def count_vectorizer(self, vocabulary: dict[str, int] | None = None) -> CountVectorizer:
        return CountVectorizer(
            analyzer=self.analyzer,
            ngram_range=self.ngram_range,
            lowercase=self.lowercase,
            strip_accents=self.strip_accents,
            vocabulary=vocabulary,
            dtype=np.float32,
        )

    def clip(self, texts: Sequence[str]) -> list[str]:
        """The part of each text this block reads."""
        selected = [listing_title(t) for t in texts] if self.field == "title" else list(texts)
        if self.max_chars is None:
            return selected
        return [t[: self.max_chars] for t in selected]


def tfidf(counts: sp.csr_matrix, idf: FloatArray, sublinear_tf: bool) -> sp.csr_matrix:
    """TF-IDF with L2-normalised rows, as scikit-learn computes it."""
    x = counts.astype(np.float32, copy=True).tocsr()
    if sublinear_tf:
        np.log(x.data, out=x.data)
        x.data += 1.0
    x = x @ sp.diags(idf.astype(np.float32))
    x = sp.csr_matrix(x)
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1), dtype=np.float32)).ravel()
    norms[norms == 0] = 1.0
    return sp.csr_matrix(sp.diags(1.0 / norms) @ x)


def softmax(scores: FloatArray) -> FloatArray:
    shifted: FloatArray = (scores - scores.max(axis=1, keepdims=True)).astype(np.float32)
    np.exp(shifted, out=shifted)
    shifted /= shifted.sum(axis=1, keepdims=True)
    return shifted


class LinearTextModel:
    """TF-IDF blocks -> scores = x @ coef.T + intercept -> softmax(scores / temperature)."""

    def __init__(
        self,
        blocks: list[FeatureBlock],
        vocabularies: list[list[str]],
        idfs: list[FloatArray],
        coef: FloatArray,
        intercept: FloatArray,
        temperature: float = 1.0,
    ) -> None:
        if not (len(blocks) == len(vocabularies) == len(idfs)):
            raise ValueError("blocks, vocabularies and idfs must have the same length")
        n_features = sum(len(v) for v in vocabularies)
        if coef.shape[1] != n_features or coef.shape[0] != intercept.shape[0]:
            raise ValueError(f"coef {coef.shape} does not fit {n_features} features")
        self.blocks = blocks
        self.vocabularies = vocabularies
        self.idfs = [np.asarray(i, dtype=np.float32) for i in idfs]
        self.coef = np.ascontiguousarray(coef, dtype=np.float32)
        self.intercept = np.asarray(intercept, dtype=np.float32)
        self.temperature = float(temperature)
        self._vectorizers = [
            block.count_vectorizer({term: i for i, term in enumerate(vocab)})
            for block, vocab in zip(blocks, vocabularies, strict=True)
        ]

    @property
    def n_classes(self) -> int:
        return int(self.coef.shape[0])

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        parts = [
            tfidf(vec.transform(block.clip(texts)), idf, block.sublinear_tf)
            * np.float32(block.weight)
            for block, vec, idf in zip(self.blocks, self._vectorizers, self.idfs, strict=True)
        ]
        return sp.csr_matrix(sp.hstack(parts, format="csr"))

    def decision_function(self, texts: Sequence[str]) -> FloatArray:
        scores = self.transform(texts) @ self.coef.T
        return np.asarray(scores, dtype=np.float32) + self.intercept

    def predict_proba(self, texts: Sequence[str]) -> FloatArray:
        return softmax(self.decision_function(texts) / self.temperature)

    def save(self, folder: Path) -> list[str]:
        (folder / FEATURES_FILE).parent.mkdir(parents=True, exist_ok=True)
        features = {
            "blocks": [b.model_dump(mode="json") for b in self.blocks],
            "vocabularies": self.vocabularies,
        }
        (folder / FEATURES_FILE).write_text(
            json.dumps(features, ensure_ascii=False), encoding="utf-8"
        )
        arrays: dict[str, Any] = {f"idf_{i}": idf for i, idf in enumerate(self.idfs)}
        arrays |= {
            "coef": self.coef,
            "intercept": self.intercept,
            "temperature": np.asarray([self.temperature], dtype=np.float32),
        }
        np.savez_compressed(folder / WEIGHTS_FILE, **arrays)
        return list(MODEL_FILES)

    @classmethod
    def load(cls, folder: Path) -> LinearTextModel:
        try:
            features = json.loads((folder / FEATURES_FILE).read_text(encoding="utf-8"))
            blocks = [FeatureBlock.model_validate(b) for b in features["blocks"]]
            # An open file, not a path: np.load leaks the handle it opened when the archive is bad.
            with (
                (folder / WEIGHTS_FILE).open("rb") as fh,
                np.load(fh, allow_pickle=False) as weights,
            ):
                idfs = [weights[f"idf_{i}"] for i in range(len(blocks))]
                return cls(
                    blocks,
                    features["vocabularies"],
                    idfs,
                    weights["coef"],
                    weights["intercept"],
                    float(weights["temperature"][0]),
                )
        except FileNotFoundError as e:
            raise InvalidInputError(f"{folder}: linear model file missing: {e.filename}") from e
        except (ValueError, KeyError, OSError, EOFError, zipfile.BadZipFile) as e:
            raise InvalidInputError(f"{folder}: linear model files are unreadable: {e}") from e

"""Inference for the `linear` family: TF-IDF n-gram blocks and a linear layer with a softmax
temperature, stored as JSON (vocabularies, settings) and a NumPy archive (weights).

Fitting lives in the train stage; this module only needs the numbers, so a server loads a linear
model with no pickle and no training code. `transform` reproduces scikit-learn's TfidfVectorizer
(counts, optional sublinear tf, idf, L2 norm) exactly; a test holds it to that, and another holds
the scoring to the slower path it replaced on a trained model (services/train/tests)."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from pydantic import BaseModel, Field

from prodcat_core.errors import InvalidInputError
from prodcat_core.ngrams import analyzer, char_wb_ngrams, preprocess
from prodcat_core.text import listing_title

if TYPE_CHECKING:
    from sklearn.feature_extraction.text import CountVectorizer

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
        """scikit-learn's counter of this block (training; scoring uses prodcat_core.ngrams)."""
        from sklearn.feature_extraction.text import CountVectorizer

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


# Words whose char_wb columns a block remembers; past this the memory is cleared (a catalogue's
# distinct words are far fewer than its listings, so a bounded memory keeps nearly every hit).
WORD_MEMORY = 200_000

IntArray = npt.NDArray[np.int64]


class BlockColumns:
    """One block's n-grams of a text as its columns in the stacked matrix, one entry per
    occurrence (n-grams outside the vocabulary dropped), exactly as scikit-learn's analyzer
    and vocabulary would count them.

    `char_wb` n-grams never cross a word boundary, so a text's are the concatenation of its
    words'; each distinct word is analysed once and its columns remembered: most of a listing's
    words have been seen before, which spares nearly all the per-n-gram Python work."""

    def __init__(self, block: FeatureBlock, vocabulary: list[str], offset: int) -> None:
        self.block = block
        self.columns = {term: offset + i for i, term in enumerate(vocabulary)}
        strip = block.strip_accents is not None
        self._analyze = analyzer(
            block.analyzer, block.ngram_range, lowercase=block.lowercase, strip_accents=strip
        )
        self._preprocess = partial(preprocess, lowercase=block.lowercase, strip_accents=strip)
        self._words: dict[str, IntArray] = {}

    def source(self, text: str, title: str) -> str:
        """The part of a listing's text this block reads."""
        chosen = title if self.block.field == "title" else text
        return chosen if self.block.max_chars is None else chosen[: self.block.max_chars]

    def of(self, source: str) -> IntArray | list[int]:
        """The columns of every in-vocabulary n-gram occurrence of `source`."""
        if self.block.analyzer != "char_wb":
            column_of = self.columns.get
            return [c for c in map(column_of, self._analyze(source)) if c is not None]
        words = self._preprocess(source).split()
        if not words:
            return []
        if len(self._words) > WORD_MEMORY:
            self._words.clear()
        remembered = self._words.get
        return np.concatenate(
            [w if (w := remembered(word)) is not None else self._word(word) for word in words]
        )

    def _word(self, word: str) -> IntArray:
        column_of = self.columns.get
        ngrams = char_wb_ngrams(word, *self.block.ngram_range)
        found = np.asarray([c for c in map(column_of, ngrams) if c is not None], dtype=np.int64)
        self._words[word] = found
        return found


def softmax(scores: FloatArray) -> FloatArray:
    shifted: FloatArray = (scores - scores.max(axis=1, keepdims=True)).astype(np.float32)
    np.exp(shifted, out=shifted)
    shifted /= shifted.sum(axis=1, keepdims=True)
    return shifted


class LinearTextModel:
    """TF-IDF blocks -> scores = x @ coef.T + intercept -> softmax(scores / temperature).

    Scoring is built for small calls: the weights are kept transposed (features x classes,
    C-contiguous), the layout scipy's sparse x dense product reads in place (with `coef` as
    trained, it copied the whole matrix on every call: 17 of a one-listing call's 25 ms); each
    block's analyzer is built once, n-grams are counted by `Counter`, and TF-IDF and the L2 norms
    of all blocks are computed in a few vectorised steps on one matrix."""

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
        # Transposed once here; `coef` is a view of it.
        self.coef_t: FloatArray = np.ascontiguousarray(np.asarray(coef, dtype=np.float32).T)
        self.intercept = np.asarray(intercept, dtype=np.float32)
        self.temperature = float(temperature)
        self.n_features = n_features
        offsets = np.cumsum([0, *(len(v) for v in vocabularies)])[:-1]
        self._blocks = [
            BlockColumns(block, vocab, int(offset))
            for block, vocab, offset in zip(blocks, vocabularies, offsets, strict=True)
        ]
        self._idf = np.concatenate(self.idfs).astype(np.float64)
        self._sublinear = np.asarray([b.sublinear_tf for b in blocks], dtype=bool)
        self._weight = np.asarray([b.weight for b in blocks], dtype=np.float64)

    @property
    def coef(self) -> FloatArray:
        """The weights as trained: classes x features."""
        return self.coef_t.T

    @property
    def n_classes(self) -> int:
        return int(self.coef_t.shape[1])

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        """The stacked TF-IDF blocks, equal to scikit-learn's TfidfVectorizer per block."""
        n_blocks = len(self._blocks)
        pieces: list[IntArray | list[int]] = []
        for text in texts:
            title = listing_title(text)
            pieces += [block.of(block.source(text, title)) for block in self._blocks]
        n_segments = len(pieces)  # one per (text, block), text-major
        lengths = np.fromiter(map(len, pieces), dtype=np.int64, count=n_segments)
        columns = np.concatenate([np.zeros(0, dtype=np.int64), *pieces]).astype(np.int64)
        segment = np.repeat(np.arange(n_segments, dtype=np.int64), lengths)
        # Occurrences -> counts per (segment, column), sorted by segment then column.
        keys, counts = np.unique(segment * self.n_features + columns, return_counts=True)
        segment, columns = np.divmod(keys, self.n_features)
        block_of = segment % n_blocks
        values = counts.astype(np.float64)
        sublinear = self._sublinear[block_of]
        values[sublinear] = np.log(values[sublinear]) + 1.0
        values *= self._idf[columns]
        norms = np.sqrt(np.bincount(segment, weights=values * values, minlength=n_segments))
        norms[norms == 0] = 1.0
        values *= self._weight[block_of] / norms[segment]
        per_text = np.bincount(segment // n_blocks, minlength=len(texts))
        indptr = np.concatenate([[0], np.cumsum(per_text)])
        return sp.csr_matrix(
            (values.astype(np.float32), columns, indptr), shape=(len(texts), self.n_features)
        )

    def decision_function(self, texts: Sequence[str]) -> FloatArray:
        scores = self.transform(texts) @ self.coef_t
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


def _reference_tfidf(counts: sp.csr_matrix, idf: FloatArray, sublinear: bool) -> sp.csr_matrix:
    x = counts.astype(np.float32, copy=True).tocsr()
    if sublinear:
        np.log(x.data, out=x.data)
        x.data += 1.0
    x = sp.csr_matrix(x @ sp.diags(idf.astype(np.float32)))
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1), dtype=np.float32)).ravel()
    norms[norms == 0] = 1.0
    return sp.csr_matrix(sp.diags(1.0 / norms) @ x)


class ReferenceLinearScorer:
    """The plain path the fast scoring replaced, as it was: one scikit-learn CountVectorizer per
    block built once, TF-IDF by sparse products, the weights kept as trained (classes x
    features, C order, which scipy copies on every product). A test holds the fast path to it;
    the benchmarks measure it as "before"."""

    def __init__(self, model: LinearTextModel) -> None:
        self.model = model
        self.coef = np.ascontiguousarray(model.coef, dtype=np.float32)
        self.vectorizers = [
            block.count_vectorizer({t: i for i, t in enumerate(vocab)})
            for block, vocab in zip(model.blocks, model.vocabularies, strict=True)
        ]

    def predict_proba(self, texts: Sequence[str]) -> FloatArray:
        m = self.model
        parts = [
            _reference_tfidf(vec.transform(block.clip(texts)), idf, block.sublinear_tf)
            * np.float32(block.weight)
            for block, vec, idf in zip(m.blocks, self.vectorizers, m.idfs, strict=True)
        ]
        x = sp.csr_matrix(sp.hstack(parts, format="csr"))
        scores = np.asarray(x @ self.coef.T, dtype=np.float32) + m.intercept
        return softmax(scores / m.temperature)

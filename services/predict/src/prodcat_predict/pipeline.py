"""What every way of predicting shares (the server's three protocols, `prodcat predict text` and
`prodcat predict batch`): raw fields → the model's text, and probabilities → answers.

The text is always `prodcat_core.text.listing_text`, the function the model was trained with; a
raw `text` is passed to it as the designation. A text longer than the limit is cut and flagged."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from prodcat_core.labels import LabelCodec
from prodcat_core.text import listing_text
from prodcat_predict.errors import UnprocessableError

FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Listing:
    """A listing as sent: its fields, or one raw text (carried as the designation)."""

    designation: str | None
    description: str | None = None


@dataclass(frozen=True)
class PreparedText:
    text: str  # what the model sees: cleaned, then cut to the limit
    chars: int  # length of the cleaned text before the cut
    truncated: bool


@dataclass(frozen=True)
class PreparedBatch:
    items: list[PreparedText]

    @property
    def texts(self) -> list[str]:
        return [p.text for p in self.items]

    @property
    def truncated(self) -> list[bool]:
        return [p.truncated for p in self.items]


def prepare_one(listing: Listing, max_chars: int) -> PreparedText:
    text = listing_text(listing.designation, listing.description)
    chars = len(text)
    if chars > max_chars:
        return PreparedText(text[:max_chars], chars, True)
    return PreparedText(text, chars, False)


def prepare(listings: Sequence[Listing], max_chars: int) -> PreparedBatch:
    """The model's texts; a listing whose text is empty once cleaned is refused (422), by index."""
    items = []
    for i, listing in enumerate(listings):
        prepared = prepare_one(listing, max_chars)
        if not prepared.text:
            raise UnprocessableError(
                f"listing {i}: its text is empty once cleaned (HTML, spaces and control characters "
                "are removed); send a designation or text with words in it"
            )
        items.append(prepared)
    return PreparedBatch(items)


@dataclass(frozen=True)
class ClassScore:
    prdtypecode: int
    category: str
    probability: float


@dataclass(frozen=True)
class Prediction:
    prdtypecode: int
    category: str
    confidence: float
    top_k: list[ClassScore]
    truncated: bool
    # Names this answer in the inference log; feedback labels refer to it.
    listing_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def top_k_indexes(proba: FloatArray, k: int) -> npt.NDArray[np.int64]:
    """Per row, the indexes of the k largest probabilities, largest first."""
    k = max(1, min(k, proba.shape[1]))
    if k < proba.shape[1]:
        part = np.argpartition(-proba, k - 1, axis=1)[:, :k]
    else:
        part = np.tile(np.arange(proba.shape[1]), (proba.shape[0], 1))
    rows = np.arange(proba.shape[0])[:, None]
    order = np.argsort(-proba[rows, part], axis=1, kind="stable")
    return np.asarray(part[rows, order], dtype=np.int64)


def predictions(
    proba: FloatArray,
    codec: LabelCodec,
    top_k: int,
    truncated: Sequence[bool],
    listing_ids: Sequence[str] | None = None,
) -> list[Prediction]:
    """One answer per row: the best class, its probability and the top-k classes."""
    top = top_k_indexes(proba, top_k)
    ids: Sequence[str | None] = [None] * len(top) if listing_ids is None else listing_ids
    out = []
    for row, (indexes, cut, listing_id) in enumerate(zip(top, truncated, ids, strict=True)):
        scores = [
            ClassScore(codec.codes[i], codec.names[i], round(float(proba[row, i]), 6))
            for i in indexes
        ]
        best = scores[0]
        out.append(
            Prediction(
                best.prdtypecode, best.category, best.probability, scores, bool(cut), listing_id
            )
        )
    return out

"""scikit-learn's text analyzers (CountVectorizer's `word`, `char` and `char_wb`, default token
pattern, no stop words), reproduced so that scoring a linear model does not import scikit-learn:
that import was two thirds of loading a linear model (seconds per server or batch shard start).
Training still uses scikit-learn itself; a test holds these to its analyzers."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from functools import partial
from typing import Literal

Analyzer = Literal["word", "char_wb", "char"]

_TOKEN = re.compile(r"(?u)\b\w\w+\b")
_WHITE_SPACES = re.compile(r"\s\s+")


def strip_accents_unicode(text: str) -> str:
    try:
        text.encode("ASCII", errors="strict")
    except UnicodeEncodeError:
        normalized = unicodedata.normalize("NFKD", text)
        return "".join([c for c in normalized if not unicodedata.combining(c)])
    return text


def preprocess(text: str, *, lowercase: bool, strip_accents: bool) -> str:
    if lowercase:
        text = text.lower()
    return strip_accents_unicode(text) if strip_accents else text


def word_ngrams(text: str, low: int, high: int) -> list[str]:
    """Tokens of two or more word characters, then their n-grams joined by a space."""
    tokens = _TOKEN.findall(text)
    if high == 1:
        return tokens
    ngrams: list[str] = list(tokens) if low == 1 else []
    for n in range(max(low, 2), min(high + 1, len(tokens) + 1)):
        ngrams += [" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
    return ngrams


def char_ngrams(text: str, low: int, high: int) -> list[str]:
    """Character n-grams across the whole text (runs of whitespace folded to one space)."""
    text = _WHITE_SPACES.sub(" ", text)
    ngrams: list[str] = list(text) if low == 1 else []
    for n in range(max(low, 2), min(high + 1, len(text) + 1)):
        ngrams += [text[i : i + n] for i in range(len(text) - n + 1)]
    return ngrams


def char_wb_ngrams(word: str, low: int, high: int) -> list[str]:
    """`char_wb` n-grams of ONE word: padded with a space each side; a word shorter than n is
    counted once, whole. A text's are its words' (`text.split()`), concatenated."""
    padded = f" {word} "
    size = len(padded)
    ngrams: list[str] = []
    for n in range(low, high + 1):
        if size <= n:
            ngrams.append(padded)
            break
        ngrams += [padded[i : i + n] for i in range(size - n + 1)]
    return ngrams


def analyzer(
    kind: Analyzer, ngram_range: tuple[int, int], *, lowercase: bool, strip_accents: bool
) -> Callable[[str], list[str]]:
    """What CountVectorizer(analyzer=kind, …).build_analyzer() returns, for a str."""
    prepare = partial(preprocess, lowercase=lowercase, strip_accents=strip_accents)
    low, high = ngram_range
    if kind == "word":
        return lambda text: word_ngrams(prepare(text), low, high)
    if kind == "char":
        return lambda text: char_ngrams(prepare(text), low, high)
    return lambda text: [g for w in prepare(text).split() for g in char_wb_ngrams(w, low, high)]

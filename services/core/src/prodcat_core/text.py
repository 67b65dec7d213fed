"""The text function: the only path from a listing's raw fields to the text a model sees.

Training, evaluation and serving all call `listing_text`, so there is no skew between them. Any
change to what it returns must bump TEXT_FN_VERSION: artifacts record the version they were trained
with, and a server refuses an artifact whose version differs from its own."""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Iterable

import ftfy

TEXT_FN_VERSION = "2"

# Joins designation and description. Cleaning folds every whitespace run inside a field into one
# space, so a newline can only be this separator: the title is always the text's first line.
FIELD_SEPARATOR = "\n"

# A tag opens with a letter, "/" or "!": "âge < 3 ans et > 1 an" is text, not markup.
_TAG = re.compile(r"<[A-Za-z/!][^<>]{0,500}>")
# UTF-8 read as cp1252/latin-1 leaves a lead byte (Ã, Â, â, Å) followed by a continuation
# character; ftfy is only asked to repair strings that show this, which keeps clean text fast.
_MOJIBAKE_HINT = re.compile(
    "[\u00c2\u00c3\u00c5\u00e2][\u0080-\u00bf\u0152-\u0192\u02c6-\u02dc\u2013-\u2122]"
)
# C0/C1 control characters other than whitespace, zero-width characters and the BOM.
_INVISIBLE = re.compile(
    "[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u200b-\u200f\u2060\ufeff]"
)
_SPACE = re.compile(r"\s+")


# Layered markup ("&amp;lt;br&amp;gt;", mojibake written as entities) needs more than one pass;
# cleaning repeats until nothing changes, so cleaning cleaned text changes nothing.
_MAX_PASSES = 8


def _clean_once(text: str) -> str:
    text = _INVISIBLE.sub("", text)
    # Entities first, then tags (an escaped "&lt;br&gt;" is a tag too), then entities that were
    # escaped twice ("&amp;eacute;").
    text = html.unescape(text)
    text = _TAG.sub(" ", text)
    if "&" in text:
        text = html.unescape(text)
    # After unescaping, so that mojibake written as entities ("&Atilde;&copy;") is repaired too.
    if _MOJIBAKE_HINT.search(text):
        text = ftfy.fix_encoding(text)
    text = unicodedata.normalize("NFC", _INVISIBLE.sub("", text))
    return _SPACE.sub(" ", text).strip()


def clean_field(raw: str | float | None) -> str:
    """Repairs and normalises one field: encoding, HTML, Unicode form, whitespace. None, NaN
    (pandas' missing value) and other non-strings are empty."""
    if not isinstance(raw, str) or not raw:
        return ""
    text = raw
    for _ in range(_MAX_PASSES):
        cleaned = _clean_once(text)
        if cleaned == text:
            break
        text = cleaned
    return text


def listing_text(designation: str | float | None, description: str | float | None) -> str:
    """One listing's text: its cleaned designation, then, on a second line, what its description
    adds (a description that repeats the designation first loses the repeat)."""
    title = clean_field(designation)
    body = clean_field(description)
    if title and body.startswith(title):
        body = body[len(title) :].lstrip(" -|:.,;")
    if not body:
        return title
    if not title:
        return body
    return f"{title}{FIELD_SEPARATOR}{body}"


def listing_title(text: str) -> str:
    """The designation part of a `listing_text` result."""
    return text.partition(FIELD_SEPARATOR)[0]


def listing_texts(
    designations: Iterable[str | None], descriptions: Iterable[str | None]
) -> list[str]:
    """`listing_text` over two parallel columns."""
    return [listing_text(t, d) for t, d in zip(designations, descriptions, strict=True)]

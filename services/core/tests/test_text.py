"""The text function: repairs, normalisation, combination rules and idempotence."""

from __future__ import annotations

import unicodedata

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from prodcat_core.text import (
    FIELD_SEPARATOR,
    clean_field,
    listing_text,
    listing_texts,
    listing_title,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # HTML entities, once and twice escaped.
        ("Caf&eacute; cr&egrave;me", "Café crème"),
        ("Caf&amp;eacute; cr&amp;egrave;me", "Café crème"),
        ("5 &euro; &amp; 3 &#8364;", "5 € & 3 €"),
        ("l&#39;été &quot;chaud&quot;", 'l\'été "chaud"'),
        ("Tom &amp; Jerry", "Tom & Jerry"),
        # Tags, plain and escaped, replaced by a space (never gluing words).
        ("<p>Chaise</p><p>en bois</p>", "Chaise en bois"),
        ("ligne 1<br />ligne 2<br>ligne 3", "ligne 1 ligne 2 ligne 3"),
        ("ligne 1&lt;br&gt;ligne 2&lt;br /&gt;fin", "ligne 1 ligne 2 fin"),
        ('<span class="x">Lampe</span> <b>LED</b>', "Lampe LED"),
        ("<ul><li>un</li><li>deux</li></ul>", "un deux"),
        # Mojibake: UTF-8 read as cp1252.
        ("Ã©tÃ©", "été"),
        ("CrÃ¨me brÃ»lÃ©e", "Crème brûlée"),
        ("Ã‰picerie fine", "Épicerie fine"),
        ("DÃ©coration de NoÃ«l", "Décoration de Noël"),
        # Mojibake that is also HTML.
        ("<b>Ã©tÃ©</b>", "été"),
        # NFC: decomposed accents are composed.
        ("cafe\u0301", "café"),
        ("E\u0301picerie", "Épicerie"),
        # Zero-width, BOM and control characters are removed.
        ("ca\u200bfé", "café"),
        ("\ufeffChaise", "Chaise"),
        ("Cha\u200dise\u2060", "Chaise"),
        ("Chaise\x00\x07 bleue\x7f\x85", "Chaise bleue"),
        # Whitespace collapsed and stripped, including tabs, newlines and no-break spaces.
        ("  Chaise \t\n bleue\r\n ", "Chaise bleue"),
        ("Chaise\u00a0bleue", "Chaise bleue"),
        ("Chaise&nbsp;&nbsp;bleue", "Chaise bleue"),
        # Empties.
        ("", ""),
        ("   ", ""),
        ("<br/>", ""),
        ("&nbsp;", ""),
        ("\u200b", ""),
        # Plain text passes unchanged.
        ("Chaise de jardin en teck", "Chaise de jardin en teck"),
    ],
)
def test_clean_field(raw: str, expected: str) -> None:
    assert clean_field(raw) == expected


def test_clean_field_none_is_empty() -> None:
    assert clean_field(None) == ""


def test_clean_field_output_is_nfc() -> None:
    assert unicodedata.is_normalized("NFC", clean_field("Pe\u0300re Noe\u0308l"))
    assert clean_field("Pe\u0300re Noe\u0308l") == "Père Noël"


@pytest.mark.parametrize(
    ("designation", "description", "expected"),
    [
        # Description adds something: both, joined by the separator.
        ("Chaise", "En bois massif", f"Chaise{FIELD_SEPARATOR}En bois massif"),
        # No description, or one that cleans to nothing: the title alone.
        ("Chaise", None, "Chaise"),
        ("Chaise", "", "Chaise"),
        ("Chaise", "  <br/> ", "Chaise"),
        # The description repeats the title: the title alone.
        ("Chaise", "Chaise", "Chaise"),
        ("<b>Chaise</b>", "Chaise  ", "Chaise"),
        # The description starts with the title: the title, then what the description adds.
        (
            "Chaise bleue",
            "Chaise bleue en bois massif",
            f"Chaise bleue{FIELD_SEPARATOR}en bois massif",
        ),
        ("Chaise bleue", "Chaise bleue - en bois", f"Chaise bleue{FIELD_SEPARATOR}en bois"),
        # No title: the description alone.
        (None, "En bois massif", "En bois massif"),
        ("", "En bois massif", "En bois massif"),
        ("<br>", "En bois massif", "En bois massif"),
        # Neither.
        (None, None, ""),
        ("", "", ""),
        # Both sides are cleaned before they are compared and joined.
        ("Caf&eacute;", "<p>Ã©tÃ©</p>", f"Café{FIELD_SEPARATOR}été"),
    ],
)
def test_listing_text(designation: str | None, description: str | None, expected: str) -> None:
    assert listing_text(designation, description) == expected


def test_listing_texts_is_listing_text_over_columns() -> None:
    titles = ["Chaise", None, "Lampe"]
    bodies = ["En bois", "Seul", None]
    assert listing_texts(titles, bodies) == [
        listing_text(t, d) for t, d in zip(titles, bodies, strict=True)
    ]


def test_listing_texts_rejects_columns_of_different_lengths() -> None:
    with pytest.raises(ValueError, match="zip"):
        listing_texts(["a", "b"], ["c"])


def test_pandas_missing_values_are_empty() -> None:
    """Columns that come from pandas (MLflow's pyfunc input, CSV batches) hold NaN, not None."""
    frame = pd.DataFrame({"designation": ["Chaise", "Lampe"], "description": ["En bois", np.nan]})
    texts = listing_texts(frame["designation"].tolist(), frame["description"].tolist())
    assert texts == [f"Chaise{FIELD_SEPARATOR}En bois", "Lampe"]


# Inputs whose cleaned text still holds something the function removes or repairs: cleaning
# must reach a fixed point in one call, or the text a model saw at training differs from what a
# caller who pre-cleans gets.
@pytest.mark.parametrize(
    "raw",
    [
        "&amp;lt;br&amp;gt;Chaise",  # a tag escaped twice
        "&Atilde;&copy;t&Atilde;&copy;",  # mojibake written as entities
        "e\u200b\u0301te",  # a zero-width character between a letter and its accent
        "&am\x00p;lt;",  # a control character inside an entity
        "&amp;amp;amp;",  # an ampersand escaped three times
    ],
)
def test_clean_field_is_idempotent_on_layered_markup(raw: str) -> None:
    once = clean_field(raw)
    assert clean_field(once) == once


# Pieces of the markup, encodings and invisible characters the function deals with.
_PIECES = st.sampled_from(
    [
        "a", "e", "é", "É", " ", "\n", "\xa0", "&", ";", "#", "<", ">", "/", "amp;", "lt;",
        "gt;", "&amp;", "&lt;", "&gt;", "&eacute;", "br", "<b>", "</p>", "Ã", "©", "¨", "Ã©",
        "\u200b", "\ufeff", "\u0301", "\x00", "\x85",
    ]
)  # fmt: skip


@settings(
    max_examples=300,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(st.one_of(st.text(max_size=40), st.lists(_PIECES, max_size=30).map("".join)))
@example("Ã©tÃ© &amp;eacute; &lt;br&gt; <p>x</p>")
def test_clean_field_is_idempotent(raw: str) -> None:
    once = clean_field(raw)
    assert clean_field(once) == once
    assert once == once.strip()
    assert "  " not in once
    assert unicodedata.is_normalized("NFC", once)


def test_the_title_is_the_first_line_even_when_fields_hold_newlines_and_bars() -> None:
    text = listing_text("Lot | Cartes\nPokémon", "Boîte de 36 boosters\r\nneufs")
    assert text.count(FIELD_SEPARATOR) == 1
    assert listing_title(text) == "Lot | Cartes Pokémon"
    assert listing_title(listing_text("Seul titre", None)) == "Seul titre"

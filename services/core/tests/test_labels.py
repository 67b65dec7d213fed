"""The label codec: codes <-> class indexes <-> names, stored as JSON."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from prodcat_core.errors import InvalidInputError
from prodcat_core.labels import CATEGORY_NAMES, KNOWN_CODES, REAL_CLASS_COUNTS, LabelCodec


def test_the_challenge_has_27_named_classes() -> None:
    assert len(CATEGORY_NAMES) == 27
    assert set(REAL_CLASS_COUNTS) == set(KNOWN_CODES)
    assert sum(REAL_CLASS_COUNTS.values()) == 84_916


def test_from_codes_sorts_deduplicates_and_names() -> None:
    codec = LabelCodec.from_codes([2583, 10, 2583, 1160, 10])
    assert codec.codes == (10, 1160, 2583)
    assert codec.names == (CATEGORY_NAMES[10], CATEGORY_NAMES[1160], CATEGORY_NAMES[2583])
    assert codec.n_classes == 3
    assert codec.name_of(1160) == "Cartes à collectionner"


def test_from_codes_names_an_unknown_code_by_its_number() -> None:
    assert LabelCodec.from_codes([7]).names == ("prdtypecode 7",)


def test_encode_decode_round_trip() -> None:
    codec = LabelCodec.from_codes(KNOWN_CODES)
    codes = np.array([2905, 10, 1281, 10, 2583], dtype=np.int64)
    indexes = codec.encode(codes)
    assert indexes.dtype == np.int64
    assert indexes.tolist() == [26, 0, 8, 0, 23]
    assert codec.decode(indexes).tolist() == codes.tolist()
    assert codec.encode([]).tolist() == []


def test_encode_unknown_code_is_an_input_error() -> None:
    codec = LabelCodec.from_codes([10, 40])
    with pytest.raises(
        InvalidInputError, match="prdtypecode 9999 is not one of the model's classes"
    ):
        codec.encode([10, 9999])


@pytest.mark.parametrize(
    ("codes", "names"),
    [
        ((), ()),
        ((10, 40), ("a",)),
        ((40, 10), ("a", "b")),
        ((10, 10), ("a", "b")),
    ],
)
def test_invalid_codecs_are_refused(codes: tuple[int, ...], names: tuple[str, ...]) -> None:
    with pytest.raises(ValidationError):
        LabelCodec(codes=codes, names=names)


def test_save_load_round_trip(tmp_path: Path) -> None:
    codec = LabelCodec.from_codes([10, 40, 2905])
    path = tmp_path / "label_codec.json"
    codec.save(path)
    assert LabelCodec.load(path) == codec
    assert "Jeux vidéo import" in path.read_text(encoding="utf-8")  # readable JSON, not escaped


def test_load_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "label_codec.json"
    with pytest.raises(InvalidInputError, match="label codec is missing") as info:
        LabelCodec.load(path)
    assert str(path) in info.value.message


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        "[]",
        '{"codes": [10, 40]}',
        '{"codes": [40, 10], "names": ["a", "b"]}',
        '{"codes": ["x"], "names": ["a"]}',
    ],
)
def test_load_invalid_file(tmp_path: Path, content: str) -> None:
    path = tmp_path / "label_codec.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InvalidInputError, match="not a valid label codec") as info:
        LabelCodec.load(path)
    assert str(path) in info.value.message

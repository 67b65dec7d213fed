"""The label codec: prdtypecode <-> class index <-> category name, as JSON (never a pickle)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, model_validator

from prodcat_core.errors import InvalidInputError

CODEC_FILE = "label_codec.json"  # a codec's file in a prepared version and in a model artifact

# The 27 product types of the Rakuten France challenge, with readable names.
CATEGORY_NAMES: dict[int, str] = {
    10: "Livres d'occasion",
    40: "Jeux vidéo import",
    50: "Accessoires jeux vidéo",
    60: "Consoles de jeux",
    1140: "Figurines et pop culture",
    1160: "Cartes à collectionner",
    1180: "Figurines de jeux de rôle et wargames",
    1280: "Jouets pour enfants",
    1281: "Jeux de société",
    1300: "Modélisme et drones",
    1301: "Chaussettes et vêtements bébé",
    1302: "Jeux de plein air",
    1320: "Puériculture",
    1560: "Mobilier d'intérieur",
    1920: "Linge de maison",
    1940: "Épicerie",
    2060: "Décoration",
    2220: "Animalerie",
    2280: "Magazines et journaux",
    2403: "Lots de livres et revues",
    2462: "Jeux vidéo d'occasion",
    2522: "Papeterie",
    2582: "Mobilier de jardin",
    2583: "Piscine et spa",
    2585: "Outillage de jardin",
    2705: "Livres neufs",
    2905: "Jeux PC en téléchargement",
}

# Rows per class in the challenge's full label file (Y_train_CVw08PX.csv, 84,916 rows).
# The synthetic generator uses it to reproduce the real class imbalance.
REAL_CLASS_COUNTS: dict[int, int] = {
    10: 3116, 40: 2508, 50: 1681, 60: 832, 1140: 2671, 1160: 3953, 1180: 764,
    1280: 4870, 1281: 2070, 1300: 5045, 1301: 807, 1302: 2491, 1320: 3241,
    1560: 5073, 1920: 4303, 1940: 803, 2060: 4993, 2220: 824, 2280: 4760,
    2403: 4774, 2462: 1421, 2522: 4989, 2582: 2589, 2583: 10209, 2585: 2496,
    2705: 2761, 2905: 872,
}  # fmt: skip

KNOWN_CODES: frozenset[int] = frozenset(CATEGORY_NAMES)


class LabelCodec(BaseModel):
    """Maps prdtypecodes to contiguous class indexes (sorted by code) and to category names."""

    model_config = ConfigDict(frozen=True)

    codes: tuple[int, ...] = Field(description="prdtypecode of each class index, ascending")
    names: tuple[str, ...] = Field(description="category name of each class index")

    @model_validator(mode="after")
    def _check(self) -> LabelCodec:
        if not self.codes:
            raise ValueError("a label codec needs at least one class")
        if len(self.codes) != len(self.names):
            raise ValueError("codes and names must have the same length")
        if list(self.codes) != sorted(set(self.codes)):
            raise ValueError("codes must be unique and ascending")
        return self

    @classmethod
    def from_codes(cls, codes: Iterable[int]) -> LabelCodec:
        ordered = sorted({int(c) for c in codes})
        return cls(
            codes=tuple(ordered),
            names=tuple(CATEGORY_NAMES.get(c, f"prdtypecode {c}") for c in ordered),
        )

    @property
    def n_classes(self) -> int:
        return len(self.codes)

    def encode(self, codes: Sequence[int] | npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """prdtypecodes -> class indexes; an unknown code is an input error."""
        lookup = {code: i for i, code in enumerate(self.codes)}
        try:
            return np.fromiter((lookup[int(c)] for c in codes), dtype=np.int64, count=len(codes))
        except KeyError as e:
            raise InvalidInputError(
                f"prdtypecode {e.args[0]} is not one of the model's classes"
            ) from e

    def decode(self, indexes: Sequence[int] | npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """class indexes -> prdtypecodes."""
        return np.asarray(self.codes, dtype=np.int64)[np.asarray(indexes, dtype=np.int64)]

    def name_of(self, code: int) -> str:
        return self.names[self.codes.index(int(code))]

    def save(self, path: Path) -> None:
        path.write_text(self.model_dump_json(indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> LabelCodec:
        try:
            return cls.model_validate(json.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError as e:
            raise InvalidInputError(f"{path}: label codec is missing") from e
        except ValueError as e:  # JSONDecodeError and pydantic's ValidationError are ValueErrors
            raise InvalidInputError(f"{path}: not a valid label codec: {e}") from e

"""Data schemas: the challenge's input files, dataset versions and prepared (split) versions.

A dataset version (`ds-…`) is the validated rows of one X/Y pair of files. A prepared version
(`pp-…`) is a dataset passed through the text function, de-duplicated and split. Both live in a
`VersionStore` and are immutable."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Literal

import pandas as pd
from pydantic import BaseModel, Field

from prodcat_core.errors import InvalidInputError
from prodcat_core.labels import CODEC_FILE, LabelCodec
from prodcat_core.store import VersionStore

SCHEMA_VERSION = 1

# The challenge's files: an unnamed first column holding the row id, then these.
X_COLUMNS = ("designation", "description", "productid", "imageid")
Y_COLUMNS = ("prdtypecode",)
X_FILENAME = "X_train_update.csv"
Y_FILENAME = "Y_train_CVw08PX.csv"

ROWS_FILE = "rows.parquet"
# Written by the generator beside the files it makes; its hashes mark them synthetic.
PROVENANCE_FILE = "provenance.json"
SPLITS = ("train", "val", "test", "holdout")
Split = Literal["train", "val", "test", "holdout"]


def dataset_store(root: Path) -> VersionStore:
    return VersionStore(root, "ds", "dataset")


def prepared_store(root: Path) -> VersionStore:
    return VersionStore(root, "pp", "prepared dataset")


class SourceFile(BaseModel):
    role: Literal["x", "y"]
    name: str = Field(description="file name as given (no server path)")
    source: str = Field(description="where it came from: a path, a URL or an upload")
    sha256: str
    bytes: int


class LabelConflict(BaseModel):
    """A listing of an appended file that the base dataset holds under another label."""

    id: int = Field(description="the row's id in the appended X/Y files")
    base_id: int = Field(description="the id of the same listing in the base dataset")
    productid: int
    base_prdtypecode: int
    new_prdtypecode: int


class AppendSummary(BaseModel):
    """How a version made by appending labelled files to a base version came about: base rows
    are kept as they are; an appended row that repeats a base listing (same designation,
    description, productid and imageid) is dropped, and reported when its label differs."""

    base_dataset_id: str
    rows_in: int = Field(description="rows of the appended files")
    rows_added: int
    duplicates_dropped: int = Field(description="rows already in the base with the same label")
    conflicts: int = Field(description="rows already in the base under another label (dropped)")
    conflict_examples: list[LabelConflict] = Field(
        default_factory=list, description="the first conflicts, at most 100"
    )
    id_offset: int = Field(description="an appended row's id is id_offset + its id in the file")


class DatasetManifest(BaseModel):
    schema_version: int = SCHEMA_VERSION
    dataset_id: str
    created_at: datetime
    synthetic: bool = Field(description="true when the rows come from the built-in generator")
    n_rows: int
    class_counts: dict[int, int]
    empty_descriptions: int
    sources: list[SourceFile]
    appended: AppendSummary | None = Field(
        None, description="set when this version is a base version plus appended files"
    )


# What the split keeps together: rows whose normalised designations are equal (listings of one
# product line under other codes, near-duplicates) go to the same split, or each row on its own.
SplitGrouping = Literal["designation", "row"]


class SplitParams(BaseModel):
    val: float = Field(0.1, gt=0, lt=0.5)
    test: float = Field(0.1, gt=0, lt=0.5)
    holdout: float = Field(0.05, gt=0, lt=0.5)
    seed: int = 42
    group_by: SplitGrouping = Field(
        "designation",
        description="designation: rows with the same normalised designation never straddle "
        "splits (honest test scores on near-duplicate listings); row: every row on its own",
    )


class PreparedManifest(BaseModel):
    schema_version: int = SCHEMA_VERSION
    prepared_id: str
    dataset_id: str
    created_at: datetime
    synthetic: bool
    text_fn_version: str
    split: SplitParams
    rows_in: int
    empty_text_dropped: int
    duplicates_dropped: int
    conflicting_duplicates_dropped: int
    split_counts: dict[str, int]
    split_class_counts: dict[str, dict[int, int]]
    # Absent from versions made before grouped splits.
    split_groups: int | None = Field(None, description="groups the split assigned as units")
    rows_kept_together: int | None = Field(
        None, description="rows in groups of two or more, each group in a single split"
    )


class PreparedData:
    """Read access to one prepared version: its splits, label codec and manifest."""

    def __init__(self, store: VersionStore, ref: str) -> None:
        self.id = store.resolve(ref)
        self.path = store.path(self.id)
        self.manifest = PreparedManifest.model_validate(store.manifest(self.id))
        self.codec = LabelCodec.load(self.path / CODEC_FILE)

    def split(self, name: str) -> pd.DataFrame:
        """Columns: id, text, prdtypecode."""
        if name not in SPLITS:
            raise InvalidInputError(f"unknown split {name!r}; expected one of {', '.join(SPLITS)}")
        return pd.read_parquet(self.path / f"{name}.parquet")

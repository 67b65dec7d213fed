"""Appending labelled files to an existing dataset version: new version = base rows ∪ new rows.

The base version is never modified. An appended row is the same listing as a base row when its
designation, description, productid and imageid are equal: with the same label it is a duplicate
and dropped; with another label it is a conflict, dropped too (the base keeps its label) and
reported, so a person can decide. Appended rows get ids after the base's largest id."""

from __future__ import annotations

import pandas as pd

from prodcat_core.datasets import (
    ROWS_FILE,
    SCHEMA_VERSION,
    X_COLUMNS,
    AppendSummary,
    DatasetManifest,
    LabelConflict,
)
from prodcat_core.errors import InvalidInputError
from prodcat_core.store import VersionStore

MAX_CONFLICT_EXAMPLES = 100
ROW_COLUMNS = ("id", *X_COLUMNS, "prdtypecode")
_KEY = ("designation", "description", "productid", "imageid")


def load_base(store: VersionStore, base: str) -> tuple[str, DatasetManifest, pd.DataFrame]:
    """The base version's id, manifest and rows; refuses a base whose schema is not this one."""
    base_id = store.resolve(base if base == "latest" else store.check_id(base))
    manifest = DatasetManifest.model_validate(store.manifest(base_id))
    if manifest.schema_version != SCHEMA_VERSION:
        raise InvalidInputError(
            f"base dataset {base_id} has schema version {manifest.schema_version}, this build "
            f"writes {SCHEMA_VERSION}: import the files as a new dataset instead"
        )
    rows = pd.read_parquet(store.path(base_id) / ROWS_FILE)
    if tuple(rows.columns) != ROW_COLUMNS:
        raise InvalidInputError(
            f"base dataset {base_id}: its rows have columns {', '.join(rows.columns)}, expected "
            f"{', '.join(ROW_COLUMNS)}"
        )
    return base_id, manifest, rows


def _keys(rows: pd.DataFrame) -> pd.Series:
    """One string per listing's content (empty and missing descriptions are the same)."""
    parts = [rows[c].fillna("").astype(str) for c in _KEY]
    key = parts[0]
    for part in parts[1:]:
        key = key + "\x1f" + part
    return key


def append_rows(
    base_id: str, base: pd.DataFrame, new: pd.DataFrame
) -> tuple[pd.DataFrame, AppendSummary]:
    """base ∪ new (both with ROW_COLUMNS), and what happened to the new rows."""
    base_keys = _keys(base)
    first = ~base_keys.duplicated()
    base_label = pd.Series(base["prdtypecode"].to_numpy()[first], index=base_keys[first])
    base_ids = pd.Series(base["id"].to_numpy()[first], index=base_keys[first])
    new_keys = _keys(new)
    known = new_keys.isin(base_label.index).to_numpy()
    old_codes = base_label.reindex(new_keys).to_numpy()
    same = known & (old_codes == new["prdtypecode"].to_numpy())
    conflict = known & ~same
    conflicts = [
        LabelConflict(
            id=int(new["id"].iloc[i]),
            base_id=int(base_ids[new_keys.iloc[i]]),
            productid=int(new["productid"].iloc[i]),
            base_prdtypecode=int(old_codes[i]),
            new_prdtypecode=int(new["prdtypecode"].iloc[i]),
        )
        for i in conflict.nonzero()[0][:MAX_CONFLICT_EXAMPLES]
    ]
    offset = int(base["id"].max()) + 1 if len(base) else 0
    added = new[~known].copy()
    added["id"] = added["id"] + offset
    merged = pd.concat([base, added], ignore_index=True)
    summary = AppendSummary(
        base_dataset_id=base_id,
        rows_in=len(new),
        rows_added=len(added),
        duplicates_dropped=int(same.sum()),
        conflicts=int(conflict.sum()),
        conflict_examples=conflicts,
        id_offset=offset,
    )
    return merged, summary

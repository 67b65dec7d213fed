"""The preprocess stage: text function, de-duplication and a deterministic stratified split that
keeps near-duplicate listings (same normalised designation) in one split.

Output is a prepared version `pp-…` keyed by (dataset id, text-function version, split params):
the same inputs give the same id, and preprocessing them again is a no-op."""

from __future__ import annotations

import hashlib
import logging
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from prodcat_core.datasets import (
    ROWS_FILE,
    SCHEMA_VERSION,
    SPLITS,
    DatasetManifest,
    PreparedManifest,
    SplitParams,
    dataset_store,
    prepared_store,
)
from prodcat_core.labels import CODEC_FILE, LabelCodec
from prodcat_core.progress import ProgressLog
from prodcat_core.store import MANIFEST, write_json_atomic
from prodcat_core.text import TEXT_FN_VERSION, clean_field, listing_text
from prodcat_data.config import DataSettings

logger = logging.getLogger(__name__)

_PROGRESS_BATCH = 10_000


@dataclass(frozen=True)
class PreprocessResult:
    prepared_id: str
    created: bool
    manifest: PreparedManifest
    path: Path


def prepared_id_for(dataset_id: str, params: SplitParams) -> str:
    key = f"{SCHEMA_VERSION}:{dataset_id}:{TEXT_FN_VERSION}:{params.model_dump_json()}"
    return f"pp-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


def clean_rows(rows: pd.DataFrame) -> pd.Series:
    """The text function over every row, with progress for large datasets."""
    texts: list[str] = []
    designations = rows["designation"].tolist()
    descriptions = rows["description"].tolist()
    with ProgressLog("text function", len(rows), logger=logger) as progress:
        for start in range(0, len(rows), _PROGRESS_BATCH):
            stop = start + _PROGRESS_BATCH
            texts.extend(
                listing_text(t, d)
                for t, d in zip(designations[start:stop], descriptions[start:stop], strict=True)
            )
            progress.advance(min(stop, len(rows)) - start)
    return pd.Series(texts, index=rows.index, name="text")


def deduplicate(frame: pd.DataFrame) -> tuple[pd.DataFrame, int, int]:
    """Keeps one row per text. Texts seen under several labels are dropped entirely: no label is
    known to be right, and keeping one would teach the model noise.

    Returns (kept rows, duplicates dropped, rows dropped for conflicting labels)."""
    labels_per_text = frame.groupby("text")["prdtypecode"].transform("nunique")
    conflicting = labels_per_text > 1
    consistent = frame[~conflicting]
    kept = consistent[~consistent.duplicated("text", keep="first")]
    return kept, len(consistent) - len(kept), int(conflicting.sum())


_NUMBER = re.compile(r"\d+")
_NON_WORD = re.compile(r"[\W_]+")
# Listings of one seller's template share their first words and differ further on (sizes,
# colours, reference codes): on the real sample, the first 5 words keep 540 rows of 5,274 with
# their near-duplicates, the whole designation only 113.
DESIGNATION_KEY_WORDS = 5


def _singular(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith(("s", "x")) else word


def designation_key(designation: str | float | None) -> str:
    """The designation as the split compares it: cleaned like the model's text, case and accents
    folded, numbers masked, punctuation ignored, plurals made singular, its first
    `DESIGNATION_KEY_WORDS` words. Empty when nothing is left."""
    text = unicodedata.normalize("NFKD", clean_field(designation).casefold())
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    words = _NON_WORD.sub(" ", _NUMBER.sub("0", text)).split()
    return " ".join(_singular(w) for w in words[:DESIGNATION_KEY_WORDS])


def split_groups(designations: pd.Series, group_by: str) -> npt.NDArray[np.int64]:
    """A group number per row: rows with the same designation key share one (`designation`);
    every row alone (`row`, and rows whose key is empty)."""
    if group_by == "row":
        return np.arange(len(designations), dtype=np.int64)
    keys = [designation_key(d) or f"\0{i}" for i, d in enumerate(designations.tolist())]
    codes, _ = pd.factorize(pd.Series(keys, dtype=object), sort=False)
    return np.asarray(codes, dtype=np.int64)


def stratified_split(
    labels: npt.NDArray[np.int64],
    params: SplitParams,
    groups: npt.NDArray[np.int64] | None = None,
) -> npt.NDArray[np.str_]:
    """Assigns each row a split, class by class, so every split keeps the class shares; the rows
    of a group (default: each row its own) all go to the same split.

    A group counts for the most frequent label among its rows. Per class, groups are shuffled
    with a seed derived from (seed, class) and taken in that order: each split takes every group
    that brings its row count closer to its fraction (rounded); classes too small to give each
    split a row go to train first. With one row per group this is a plain stratified split."""
    if groups is None:
        groups = np.arange(len(labels), dtype=np.int64)
    frame = pd.DataFrame({"group": groups, "label": labels})
    sizes = frame.groupby("group").size()
    # The most frequent label of each group (ties: the smallest code).
    group_label = (
        frame.groupby(["group", "label"])
        .size()
        .rename("n")
        .reset_index()
        .sort_values(["group", "n", "label"], ascending=[True, False, True])
        .drop_duplicates("group")
        .set_index("group")["label"]
        .reindex(sizes.index)
        .to_numpy()
    )
    group_sizes = sizes.to_numpy()
    size_of = group_sizes.tolist()
    group_split = np.full(len(sizes), "train", dtype=object)  # by position in `sizes`
    fractions = {"holdout": params.holdout, "test": params.test, "val": params.val}
    for code in np.unique(group_label):
        members = np.flatnonzero(group_label == code)
        rng = np.random.default_rng([params.seed, int(code)])
        left = members[rng.permutation(len(members))].tolist()
        total = int(group_sizes[members].sum())
        for split, fraction in fractions.items():
            target = round(fraction * total)
            if target == 0 and total >= 2 * len(fractions) + 1:
                target = 1
            taken, passed = 0, []
            for i, g in enumerate(left):  # in shuffled order; a group too big for it waits
                if taken >= target:  # no group (one row or more) brings it closer
                    passed.extend(left[i:])
                    break
                if abs(taken + size_of[g] - target) < abs(taken - target):
                    group_split[g] = split
                    taken += size_of[g]
                else:
                    passed.append(g)
            left = passed
    return group_split[sizes.index.get_indexer(pd.Index(groups))].astype(str)


def preprocess_dataset(
    dataset_ref: str, params: SplitParams, settings: DataSettings
) -> PreprocessResult:
    datasets = dataset_store(settings.datasets_dir)
    prepared = prepared_store(settings.prepared_dir)
    dataset_id = datasets.resolve(dataset_ref)
    prepared_id = prepared_id_for(dataset_id, params)
    if prepared.exists(prepared_id):
        logger.info("%s already prepared as %s: nothing to do", dataset_id, prepared_id)
        prepared.set_latest(prepared_id)
        manifest = PreparedManifest.model_validate(prepared.manifest(prepared_id))
        return PreprocessResult(prepared_id, False, manifest, prepared.path(prepared_id))

    source = DatasetManifest.model_validate(datasets.manifest(dataset_id))
    rows = pd.read_parquet(datasets.path(dataset_id) / ROWS_FILE)
    frame = pd.DataFrame(
        {"id": rows["id"], "text": clean_rows(rows), "prdtypecode": rows["prdtypecode"]}
    )
    non_empty = frame[frame["text"] != ""]
    kept, duplicates, conflicting = deduplicate(non_empty)
    groups = split_groups(rows.loc[kept.index, "designation"], params.group_by)
    kept = kept.reset_index(drop=True)
    splits = stratified_split(kept["prdtypecode"].to_numpy(), params, groups)
    group_sizes = np.bincount(groups)
    codec = LabelCodec.from_codes(kept["prdtypecode"].unique())
    split_class_counts = {
        name: {
            int(k): int(v)
            for k, v in kept.loc[splits == name, "prdtypecode"].value_counts().sort_index().items()
        }
        for name in SPLITS
    }
    manifest = PreparedManifest(
        prepared_id=prepared_id,
        dataset_id=dataset_id,
        created_at=datetime.now(UTC),
        synthetic=source.synthetic,
        text_fn_version=TEXT_FN_VERSION,
        split=params,
        rows_in=len(rows),
        empty_text_dropped=len(frame) - len(non_empty),
        duplicates_dropped=duplicates,
        conflicting_duplicates_dropped=conflicting,
        split_counts={name: int((splits == name).sum()) for name in SPLITS},
        split_class_counts=split_class_counts,
        split_groups=int((group_sizes > 0).sum()),
        rows_kept_together=int(group_sizes[group_sizes > 1].sum()),
    )

    def build(tmp: Path) -> None:
        for name in SPLITS:
            kept[splits == name].reset_index(drop=True).to_parquet(
                tmp / f"{name}.parquet", index=False
            )
        codec.save(tmp / CODEC_FILE)
        write_json_atomic(tmp / MANIFEST, manifest.model_dump(mode="json"))

    created = prepared.publish(prepared_id, build)
    prepared.set_latest(prepared_id)
    return PreprocessResult(prepared_id, created, manifest, prepared.path(prepared_id))

"""The preprocess stage: text function, de-duplication and a deterministic stratified split.

Output is a prepared version `pp-…` keyed by (dataset id, text-function version, split params):
the same inputs give the same id, and preprocessing them again is a no-op."""

from __future__ import annotations

import hashlib
import logging
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
from prodcat_core.text import TEXT_FN_VERSION, listing_text
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


def stratified_split(labels: npt.NDArray[np.int64], params: SplitParams) -> npt.NDArray[np.str_]:
    """Assigns each row a split, class by class, so every split keeps the class shares.

    Per class, rows are shuffled with a seed derived from (seed, class) and cut by the fractions
    (rounded); classes too small to give each split a row go to train first."""
    assignment = np.empty(len(labels), dtype=object)
    fractions = {"holdout": params.holdout, "test": params.test, "val": params.val}
    for code in np.unique(labels):
        members = np.flatnonzero(labels == code)
        rng = np.random.default_rng([params.seed, int(code)])
        members = members[rng.permutation(len(members))]
        start = 0
        for split, fraction in fractions.items():
            n = round(fraction * len(members))
            if n == 0 and len(members) >= 2 * len(fractions) + 1:
                n = 1
            assignment[members[start : start + n]] = split
            start += n
        assignment[members[start:]] = "train"
    return assignment.astype(str)


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
    kept = kept.reset_index(drop=True)
    splits = stratified_split(kept["prdtypecode"].to_numpy(), params)
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

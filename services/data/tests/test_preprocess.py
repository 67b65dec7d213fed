"""The preprocess stage: text function, de-duplication, a deterministic stratified split, and an
immutable `pp-…` version keyed by its inputs."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from prodcat_core.datasets import (
    SPLITS,
    X_FILENAME,
    Y_FILENAME,
    PreparedData,
    SplitParams,
    prepared_store,
)
from prodcat_core.errors import InvalidInputError, NotFoundError
from prodcat_core.labels import CODEC_FILE, LabelCodec
from prodcat_core.store import MANIFEST
from prodcat_core.text import FIELD_SEPARATOR, TEXT_FN_VERSION
from prodcat_data.config import DataSettings
from prodcat_data.importer import import_dataset
from prodcat_data.preprocess import (
    PreprocessResult,
    deduplicate,
    designation_key,
    prepared_id_for,
    preprocess_dataset,
    stratified_split,
)
from prodcat_data.synthetic import write_challenge_files

Digest = Callable[[Path], dict[str, str]]
FRACTIONS = {"val": 0.1, "test": 0.1, "holdout": 0.05}

# (id, designation, description, prdtypecode): duplicates, conflicts and empties by design.
SPECIAL_ROWS = [
    (10, "Chaise en bois", "", 1560),
    (11, "Chaise  en   bois", "", 1560),  # same text once cleaned, same label: a duplicate
    (12, "<b>Chaise en bois</b>", "Chaise en bois", 1560),  # ditto
    (13, "Lampe de chevet", "", 2060),
    (14, "Lampe de chevet", "", 1560),  # same text, another label: a conflict
    (15, "Lampe&nbsp;de chevet", "", 2060),  # the same conflicting text once more
    (16, "<br />", "", 10),  # cleans to nothing
    (17, "&nbsp;", "<p> </p>", 10),  # ditto
]
FILLER_ROWS = [
    (100 + i, f"Roman policier tome {i}", "Très bon état &amp; complet", 10) for i in range(20)
] + [(200 + i, f"Piscine hors-sol modèle {i}", "<p>Bâche incluse</p>", 2583) for i in range(20)]


def _write_dataset(folder: Path, rows: list[tuple[int, str, str, int]]) -> tuple[Path, Path]:
    folder.mkdir(parents=True)
    x, y = io.StringIO(), io.StringIO()
    xw, yw = csv.writer(x, lineterminator="\r\n"), csv.writer(y, lineterminator="\r\n")
    xw.writerow(["", "designation", "description", "productid", "imageid"])
    yw.writerow(["", "prdtypecode"])
    for row_id, designation, description, code in rows:
        xw.writerow([row_id, designation, description, 5000 + row_id, 9000 + row_id])
        yw.writerow([row_id, code])
    (folder / X_FILENAME).write_text(x.getvalue(), encoding="utf-8")
    (folder / Y_FILENAME).write_text(y.getvalue(), encoding="utf-8")
    return folder / X_FILENAME, folder / Y_FILENAME


@pytest.fixture
def special(data_settings: DataSettings, tmp_path: Path) -> str:
    """A dataset with duplicates, conflicts and empty texts; returns its id."""
    x, y = _write_dataset(tmp_path / "special", SPECIAL_ROWS + FILLER_ROWS)
    return import_dataset(str(x), str(y), data_settings).dataset_id


@pytest.fixture(scope="module")
def synthetic_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """2,000 generated listings imported once for the module: (datasets dir, dataset id).
    Tests only read it; each writes prepared versions into its own folder."""
    root = tmp_path_factory.mktemp("synthetic-store")
    x, y = write_challenge_files(root / "raw", 2000, 11)
    settings = DataSettings(datasets_dir=root / "datasets", prepared_dir=root / "unused")
    return root / "datasets", import_dataset(str(x), str(y), settings).dataset_id


def _settings_on(synthetic: tuple[Path, str], prepared: Path) -> DataSettings:
    return DataSettings(datasets_dir=synthetic[0], prepared_dir=prepared)


def _prepare_synthetic(
    synthetic: tuple[Path, str], prepared: Path, params: SplitParams
) -> PreprocessResult:
    return preprocess_dataset(synthetic[1], params, _settings_on(synthetic, prepared))


def _split_frames(path: Path) -> dict[str, pd.DataFrame]:
    return {name: pd.read_parquet(path / f"{name}.parquet") for name in SPLITS}


def _mtimes(root: Path) -> dict[str, int]:
    return {p.relative_to(root).as_posix(): p.stat().st_mtime_ns for p in root.rglob("*")}


def test_duplicates_conflicts_and_empty_texts(special: str, data_settings: DataSettings) -> None:
    result = preprocess_dataset(special, SplitParams(), data_settings)
    m = result.manifest
    assert m.rows_in == len(SPECIAL_ROWS) + len(FILLER_ROWS)
    assert m.empty_text_dropped == 2
    assert m.duplicates_dropped == 2
    assert m.conflicting_duplicates_dropped == 3
    kept = pd.concat(_split_frames(result.path).values())
    assert sum(m.split_counts.values()) == len(kept) == m.rows_in - 2 - 2 - 3
    ids = set(kept["id"])
    assert 10 in ids  # the first of the duplicates is kept ...
    assert not ids & {11, 12}  # ... and its copies dropped
    assert not ids & {13, 14, 15}  # every row of a conflicting text is dropped
    assert not ids & {16, 17}
    assert kept["text"].is_unique
    assert (kept["text"] != "").all()


def test_texts_go_through_the_text_function(special: str, data_settings: DataSettings) -> None:
    result = preprocess_dataset(special, SplitParams(), data_settings)
    kept = pd.concat(_split_frames(result.path).values()).set_index("id")
    assert list(kept.columns) == ["text", "prdtypecode"]
    assert kept.loc[10, "text"] == "Chaise en bois"
    assert kept.loc[100, "text"] == f"Roman policier tome 0{FIELD_SEPARATOR}Très bon état & complet"
    assert kept.loc[200, "text"] == f"Piscine hors-sol modèle 0{FIELD_SEPARATOR}Bâche incluse"
    assert kept.loc[200, "prdtypecode"] == 2583


def test_the_label_codec_is_written(special: str, data_settings: DataSettings) -> None:
    result = preprocess_dataset(special, SplitParams(), data_settings)
    codec = LabelCodec.load(result.path / CODEC_FILE)
    # 2060 only had conflicting rows: it is gone, and the codec has only the classes kept.
    assert codec.codes == (10, 1560, 2583)
    assert sorted(p.name for p in result.path.iterdir()) == sorted(
        [*(f"{s}.parquet" for s in SPLITS), CODEC_FILE, MANIFEST]
    )
    prepared = PreparedData(prepared_store(data_settings.prepared_dir), "latest")
    assert prepared.id == result.prepared_id
    assert prepared.codec == codec
    assert prepared.manifest == result.manifest
    assert len(prepared.split("train")) == result.manifest.split_counts["train"]
    with pytest.raises(InvalidInputError, match="unknown split 'everything'"):
        prepared.split("everything")


def test_manifest_records_its_inputs(special: str, data_settings: DataSettings) -> None:
    params = SplitParams(val=0.2, test=0.15, holdout=0.1, seed=3)
    result = preprocess_dataset(special, params, data_settings)
    m = result.manifest
    assert m.prepared_id == result.prepared_id == prepared_id_for(special, params)
    assert m.dataset_id == special
    assert m.split == params
    assert m.text_fn_version == TEXT_FN_VERSION
    assert m.synthetic is False
    assert result.path == data_settings.prepared_dir / result.prepared_id


def test_splits_are_disjoint_and_cover_the_kept_rows(
    synthetic_store: tuple[Path, str], tmp_path: Path
) -> None:
    settings = _settings_on(synthetic_store, tmp_path / "prepared")
    result = preprocess_dataset(synthetic_store[1], SplitParams(), settings)
    m = result.manifest
    assert m.synthetic is True
    frames = _split_frames(result.path)
    ids = {name: set(frame["id"]) for name, frame in frames.items()}
    for a in SPLITS:
        for b in SPLITS:
            if a < b:
                assert not ids[a] & ids[b], f"{a} and {b} share rows"
    rows = pd.read_parquet(synthetic_store[0] / synthetic_store[1] / "rows.parquet")
    dropped = m.empty_text_dropped + m.duplicates_dropped + m.conflicting_duplicates_dropped
    assert m.duplicates_dropped > 0  # the generator makes duplicates on purpose
    assert set().union(*ids.values()) <= set(rows["id"])
    assert sum(len(i) for i in ids.values()) == len(rows) - dropped
    for name, frame in frames.items():
        assert m.split_counts[name] == len(frame)
        counts = frame["prdtypecode"].value_counts()
        assert m.split_class_counts[name] == dict(
            zip(counts.index.astype(int).tolist(), counts.tolist(), strict=True)
        )


def test_row_splits_are_stratified_exactly(
    synthetic_store: tuple[Path, str], tmp_path: Path
) -> None:
    result = _prepare_synthetic(synthetic_store, tmp_path, SplitParams(group_by="row"))
    per_split = result.manifest.split_class_counts
    total = sum(result.manifest.split_counts.values())
    classes = set().union(*(set(c) for c in per_split.values()))
    assert len(classes) == 27
    for code in classes:
        n = sum(per_split[s].get(code, 0) for s in SPLITS)
        for split, fraction in FRACTIONS.items():
            got = per_split[split].get(code, 0)
            if n >= 7:  # enough rows to give every split one
                assert got >= 1, f"class {code} ({n} rows) has no {split} row"
            assert abs(got - fraction * n) <= 1, f"class {code}: {got} {split} rows of {n}"
    for split, fraction in FRACTIONS.items():
        assert abs(result.manifest.split_counts[split] / total - fraction) < 0.01
    assert result.manifest.split_groups == total
    assert result.manifest.rows_kept_together == 0


def _designation_keys(datasets_dir: Path, dataset_id: str) -> dict[int, str]:
    rows = pd.read_parquet(datasets_dir / dataset_id / "rows.parquet")
    return dict(zip(rows["id"], (designation_key(d) for d in rows["designation"]), strict=True))


def test_near_duplicate_designations_never_straddle_splits(
    synthetic_store: tuple[Path, str], tmp_path: Path
) -> None:
    """The default split keeps each designation group in one split and stays near the fractions,
    class by class; the random row split (the old behaviour) does put groups across splits."""
    keys = _designation_keys(*synthetic_store)
    spread = {}
    for group_by in ("designation", "row"):
        params = SplitParams(group_by=group_by)
        result = _prepare_synthetic(synthetic_store, tmp_path / group_by, params)
        frames = _split_frames(result.path)
        split_of = pd.concat(
            frame.assign(split=name, key=frame["id"].map(keys)) for name, frame in frames.items()
        )
        splits_per_key = split_of.groupby("key")["split"].nunique()
        spread[group_by] = int((splits_per_key > 1).sum())
        m = result.manifest
        sizes = split_of["key"].value_counts()
        if group_by == "designation":
            assert m.split_groups == len(sizes)
            assert m.rows_kept_together == int(sizes[sizes > 1].sum()) > 0
    assert spread["designation"] == 0
    assert spread["row"] > 0, "the synthetic data has no near-duplicates: the test cannot fail"


def test_grouped_splits_keep_the_fractions(
    synthetic_store: tuple[Path, str], tmp_path: Path
) -> None:
    m = _prepare_synthetic(synthetic_store, tmp_path, SplitParams()).manifest
    total = sum(m.split_counts.values())
    for split, fraction in FRACTIONS.items():
        assert abs(m.split_counts[split] / total - fraction) < 0.02, split
    for code, in_train in m.split_class_counts["train"].items():
        n = sum(m.split_class_counts[s].get(code, 0) for s in SPLITS)
        train_share = in_train / n
        assert 0.6 <= train_share <= 0.9, f"class {code}: {train_share:.2f} of {n} rows in train"


def test_groups_split_as_units() -> None:
    # Class 1: groups of 5, 5, 1 x 10; class 2: one group of 30 (too big for any split but train).
    labels = np.array([1] * 20 + [2] * 30, dtype=np.int64)
    groups = np.array([0] * 5 + [1] * 5 + [*range(2, 12)] + [12] * 30, dtype=np.int64)
    splits = stratified_split(labels, SplitParams(), groups)
    for g in np.unique(groups):
        assert len(set(splits[groups == g])) == 1, f"group {g} straddles splits"
    assert set(splits[labels == 2]) == {"train"}
    one = splits[labels == 1]
    assert (one == "holdout").sum() == 1
    assert (one == "test").sum() == 2
    assert (one == "val").sum() == 2
    # A group counts for its most frequent label.
    mixed = stratified_split(
        np.array([1, 1, 2] + [2] * 40, dtype=np.int64),
        SplitParams(),
        np.array([0, 0, 0, *range(1, 41)], dtype=np.int64),
    )
    assert len(set(mixed[:3])) == 1


def test_designation_key_folds_what_varies_within_a_listing_template() -> None:
    assert designation_key("Bâche à BULLES 400 microns - piscine 8m x 4m") == designation_key(
        "bache a bulle 180 microns piscine"
    )
    assert designation_key("<b>Chaise&nbsp;en bois</b>") == "chaise en boi"
    assert designation_key("Lampe de chevet") != designation_key("Lampe de bureau")
    assert designation_key(None) == designation_key("&nbsp;") == ""


def test_small_classes_go_to_train() -> None:
    labels = np.array([1] * 3 + [2] * 7 + [3] * 40, dtype=np.int64)
    splits = stratified_split(labels, SplitParams())
    assert set(splits[labels == 1]) == {"train"}
    seven = splits[labels == 2].tolist()
    assert sorted(seven) == ["holdout", "test", "train", "train", "train", "train", "val"]
    assert (splits[labels == 3] == "holdout").sum() == 2
    assert (splits[labels == 3] == "test").sum() == 4
    assert (splits[labels == 3] == "val").sum() == 4


def test_split_is_deterministic_per_seed() -> None:
    labels = np.repeat(np.array([10, 40, 50], dtype=np.int64), [50, 80, 30])
    np.random.default_rng(0).shuffle(labels)
    a = stratified_split(labels, SplitParams(seed=1))
    assert np.array_equal(a, stratified_split(labels, SplitParams(seed=1)))
    b = stratified_split(labels, SplitParams(seed=2))
    assert not np.array_equal(a, b)
    # Another seed shuffles which rows go where, not how many per class.
    for code in (10, 40, 50):
        for split in SPLITS:
            in_a = ((a == split) & (labels == code)).sum()
            assert in_a == ((b == split) & (labels == code)).sum()


def test_same_inputs_same_split_ids(synthetic_store: tuple[Path, str], tmp_path: Path) -> None:
    def ids(prepared: Path, seed: int) -> tuple[str, dict[str, list[int]]]:
        settings = _settings_on(synthetic_store, prepared)
        result = preprocess_dataset(synthetic_store[1], SplitParams(seed=seed), settings)
        frames = _split_frames(result.path)
        return result.prepared_id, {k: sorted(v["id"].tolist()) for k, v in frames.items()}

    first_id, first = ids(tmp_path / "one", seed=42)
    second_id, second = ids(tmp_path / "two", seed=42)
    assert (first_id, first) == (second_id, second)
    other_id, other = ids(tmp_path / "three", seed=43)
    assert other_id != first_id
    assert other["val"] != first["val"]
    assert other["test"] != first["test"]


def test_prepared_id() -> None:
    base = prepared_id_for("ds-0123456789ab", SplitParams())
    assert base.startswith("pp-")
    assert len(base) == len("pp-") + 12
    assert prepared_id_for("ds-0123456789ab", SplitParams()) == base
    variants = [
        prepared_id_for("ds-0123456789ac", SplitParams()),
        prepared_id_for("ds-0123456789ab", SplitParams(seed=43)),
        prepared_id_for("ds-0123456789ab", SplitParams(val=0.2)),
        prepared_id_for("ds-0123456789ab", SplitParams(test=0.2)),
        prepared_id_for("ds-0123456789ab", SplitParams(holdout=0.1)),
    ]
    assert len({base, *variants}) == 6


def test_prepared_id_changes_with_the_text_function(monkeypatch: pytest.MonkeyPatch) -> None:
    base = prepared_id_for("ds-0123456789ab", SplitParams())
    monkeypatch.setattr("prodcat_data.preprocess.TEXT_FN_VERSION", f"{TEXT_FN_VERSION}-next")
    assert prepared_id_for("ds-0123456789ab", SplitParams()) != base


@pytest.mark.parametrize("bad", [{"val": 0.0}, {"test": 0.5}, {"holdout": -0.1}, {"val": 1}])
def test_split_fractions_are_bounded(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        SplitParams.model_validate(bad)


def test_running_again_is_a_no_op(
    special: str, data_settings: DataSettings, digest: Digest
) -> None:
    first = preprocess_dataset(special, SplitParams(), data_settings)
    mtimes = _mtimes(first.path)
    before = digest(data_settings.prepared_dir)
    again = preprocess_dataset("latest", SplitParams(), data_settings)
    assert again.created is False
    assert again.prepared_id == first.prepared_id
    assert again.manifest == first.manifest
    assert _mtimes(first.path) == mtimes
    assert digest(data_settings.prepared_dir) == before
    # Other split parameters are another version, and become the latest.
    other = preprocess_dataset(special, SplitParams(seed=1), data_settings)
    assert other.created
    store = prepared_store(data_settings.prepared_dir)
    assert store.ids() == sorted([first.prepared_id, other.prepared_id])
    assert store.resolve("latest") == other.prepared_id


def test_unknown_dataset(data_settings: DataSettings) -> None:
    with pytest.raises(NotFoundError, match="no dataset"):
        preprocess_dataset("latest", SplitParams(), data_settings)
    with pytest.raises(NotFoundError, match="ds-0123456789ab not found"):
        preprocess_dataset("ds-0123456789ab", SplitParams(), data_settings)
    with pytest.raises(InvalidInputError, match="is not a dataset id"):
        preprocess_dataset("../prepared", SplitParams(), data_settings)
    assert not data_settings.prepared_dir.exists()


def test_a_failure_while_publishing_leaves_the_store_unchanged(
    special: str,
    data_settings: DataSettings,
    digest: Digest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    earlier = preprocess_dataset(special, SplitParams(seed=1), data_settings)
    before = digest(data_settings.prepared_dir)
    real_to_parquet = pd.DataFrame.to_parquet
    written: list[Any] = []

    def fail_on_the_third_split(self: pd.DataFrame, path: Any, *args: Any, **kwargs: Any) -> None:
        if len(written) == 2:
            raise OSError("No space left on device")
        real_to_parquet(self, path, *args, **kwargs)
        written.append(path)

    monkeypatch.setattr(pd.DataFrame, "to_parquet", fail_on_the_third_split)
    with pytest.raises(OSError, match="No space left"):
        preprocess_dataset(special, SplitParams(seed=2), data_settings)
    assert len(written) == 2
    assert digest(data_settings.prepared_dir) == before
    assert prepared_store(data_settings.prepared_dir).resolve("latest") == earlier.prepared_id


def test_deduplicate_unit() -> None:
    frame = pd.DataFrame(
        {
            "id": [1, 2, 3, 4, 5, 6],
            "text": ["a", "a", "b", "b", "c", "a"],
            "prdtypecode": [10, 10, 10, 40, 50, 10],
        }
    )
    kept, duplicates, conflicting = deduplicate(frame)
    assert kept["id"].tolist() == [1, 5]
    assert (duplicates, conflicting) == (2, 2)

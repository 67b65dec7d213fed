"""Benchmark: the `linear` family against a 10-line baseline, and its training time at full size.

Cases, in one run:
- synthetic: 85,000 generated rows (import + preprocess not timed), the train stage's linear
  family with its default parameters: training seconds, weighted/macro F1 on the test split.
- real: the rows in ../shared/data/rakuten-sample (when present), split by our preprocess stage,
  once grouped (the default: near-duplicate designations never straddle splits) and once row by
  row (the old random split, whose test rows have near-copies in train); the tuned linear family
  and the baseline (TF-IDF word 1-2 + char_wb 2-5 grams, class-balanced LinearSVC, on the raw
  designation + description) scored on the same held-out rows (test + holdout). The baseline
  trains on train + validation; ours trains on train and uses validation to choose C and the
  softmax temperature. Then the same comparison by 5-fold cross-validation, with the folds
  grouped the same way.
Prints a table; writes benchmarks/results/train.json.

    .venv/bin/python benchmarks/train.py [--rows 85000 (0: none)] [--folds 5] [--sample DIR]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import scipy.sparse as sp
from common import REAL_SAMPLE, print_table, write_json
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.svm import LinearSVC

from prodcat_core.datasets import PreparedData, SplitGrouping, SplitParams, prepared_store
from prodcat_core.labels import LabelCodec
from prodcat_core.text import listing_texts
from prodcat_data.config import DataSettings
from prodcat_data.importer import import_dataset
from prodcat_data.preprocess import preprocess_dataset, split_groups
from prodcat_train.linear import LinearParams, fit_linear

TARGET_SECONDS = 120.0
TARGET_GAIN = 0.02


def baseline(train: list[str], y: npt.NDArray[np.int64], test: list[str]) -> npt.NDArray[np.int64]:
    """The 10-line baseline the issue names."""
    word = TfidfVectorizer(analyzer="word", ngram_range=(1, 2))
    char = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5))
    x_train = sp.hstack([word.fit_transform(train), char.fit_transform(train)]).tocsr()
    x_test = sp.hstack([word.transform(test), char.transform(test)]).tocsr()
    model = LinearSVC(class_weight="balanced").fit(x_train, y)
    return np.asarray(model.predict(x_test), dtype=np.int64)


def ours(
    train: list[str],
    y: npt.NDArray[np.int64],
    val: list[str],
    y_val: npt.NDArray[np.int64],
    test: list[str],
    n_classes: int,
    params: LinearParams,
) -> tuple[npt.NDArray[np.int64], float]:
    started = time.perf_counter()
    fit = fit_linear(train, y, val, y_val, n_classes, params)
    seconds = time.perf_counter() - started
    return fit.model.predict_proba(test).argmax(axis=1), seconds


def _f1(y: npt.NDArray[np.int64], pred: npt.NDArray[np.int64], average: str) -> float:
    return float(f1_score(y, pred, average=average))


def prepare(x: Path, y: Path, workdir: Path, group_by: SplitGrouping) -> PreparedData:
    settings = DataSettings(datasets_dir=workdir / "datasets", prepared_dir=workdir / "prepared")
    imported = import_dataset(str(x), str(y), settings)
    prepared = preprocess_dataset(imported.dataset_id, SplitParams(group_by=group_by), settings)
    return PreparedData(prepared_store(settings.prepared_dir), prepared.prepared_id)


def synthetic_case(rows: int, params: LinearParams) -> dict[str, Any]:
    from prodcat_data.synthetic import write_challenge_files

    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        x, y = write_challenge_files(Path(tmp) / "raw", rows, seed=42)
        data = prepare(x, y, Path(tmp), "designation")
        codec = data.codec
        train, val = data.split("train"), data.split("val")
        test = pd.concat([data.split("test"), data.split("holdout")])
        pred, seconds = ours(
            train["text"].tolist(),
            codec.encode(train["prdtypecode"].to_numpy()),
            val["text"].tolist(),
            codec.encode(val["prdtypecode"].to_numpy()),
            test["text"].tolist(),
            codec.n_classes,
            params,
        )
        y_test = codec.encode(test["prdtypecode"].to_numpy())
    return {
        "case": f"synthetic {rows:,}: linear",
        "train_rows": len(train),
        "test_rows": len(test),
        "train_s": seconds,
        "weighted_f1": _f1(y_test, pred, "weighted"),
        "macro_f1": _f1(y_test, pred, "macro"),
        "meets_120s": seconds < TARGET_SECONDS,
    }


SPLIT_NAMES: dict[SplitGrouping, str] = {"designation": "grouped split", "row": "row split"}


def real_cases(
    params: LinearParams, folds: int, group_by: SplitGrouping, sample: Path
) -> list[dict[str, Any]]:
    split = SPLIT_NAMES[group_by]
    x_raw = pd.read_csv(sample / "X_train_sample.csv", index_col=0)
    joined = x_raw["designation"].fillna("") + " " + x_raw["description"].fillna("")
    raw_text = dict(
        zip(joined.index.astype(int).tolist(), joined.astype(str).tolist(), strict=True)
    )
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        data = prepare(
            sample / "X_train_sample.csv",
            sample / "Y_train_sample.csv",
            Path(tmp),
            group_by,
        )
        kept_together = data.manifest.rows_kept_together
        codec = data.codec
        train, val = data.split("train"), data.split("val")
        test = pd.concat([data.split("test"), data.split("holdout")])
    enc = codec.encode
    y_test = enc(test["prdtypecode"].to_numpy())
    fit_rows = pd.concat([train, val])
    base_pred = enc(
        baseline(
            [raw_text[i] for i in fit_rows["id"]],
            fit_rows["prdtypecode"].to_numpy(),
            [raw_text[i] for i in test["id"]],
        )
    )
    our_pred, seconds = ours(
        train["text"].tolist(),
        enc(train["prdtypecode"].to_numpy()),
        val["text"].tolist(),
        enc(val["prdtypecode"].to_numpy()),
        test["text"].tolist(),
        codec.n_classes,
        params,
    )
    rows: list[dict[str, Any]] = [
        {
            "case": f"real sample, held-out rows, {split}: baseline",
            "rows_kept_together": kept_together,
            "train_rows": len(fit_rows),
            "test_rows": len(test),
            "weighted_f1": _f1(y_test, base_pred, "weighted"),
            "macro_f1": _f1(y_test, base_pred, "macro"),
        },
        {
            "case": f"real sample, held-out rows, {split}: linear (tuned)",
            "train_rows": len(train),
            "test_rows": len(test),
            "train_s": seconds,
            "weighted_f1": _f1(y_test, our_pred, "weighted"),
            "macro_f1": _f1(y_test, our_pred, "macro"),
        },
    ]
    rows[1]["gain"] = rows[1]["weighted_f1"] - rows[0]["weighted_f1"]
    y_raw = pd.read_csv(sample / "Y_train_sample.csv", index_col=0)["prdtypecode"]
    rows.append(_cross_validation(x_raw, y_raw, raw_text, codec, params, folds, group_by))
    return rows


def _cross_validation(
    x_raw: pd.DataFrame,
    y_raw: pd.Series,
    raw_text: dict[int, str],
    codec: LabelCodec,
    params: LinearParams,
    folds: int,
    group_by: SplitGrouping,
) -> dict[str, Any]:
    """Both models on the same folds of the whole sample; ours holds out 10% of each training fold
    for its validation. Grouped: no designation group is in two folds, nor in fit and val."""
    ids = x_raw.index.to_numpy()
    clean = listing_texts(x_raw["designation"].tolist(), x_raw["description"].tolist())
    y_all = codec.encode(y_raw.loc[ids].to_numpy())
    base_scores, our_scores = [], []
    groups = split_groups(x_raw["designation"], group_by)
    splitter = StratifiedGroupKFold(folds, shuffle=True, random_state=0)
    for train_idx, test_idx in splitter.split(ids, y_all, groups):
        inner = StratifiedGroupKFold(10, shuffle=True, random_state=1)
        fit_idx, val_idx = next(inner.split(train_idx, y_all[train_idx], groups[train_idx]))
        fit_idx, val_idx = train_idx[fit_idx], train_idx[val_idx]
        base = baseline(
            [raw_text[ids[i]] for i in train_idx],
            y_all[train_idx],
            [raw_text[ids[i]] for i in test_idx],
        )
        base_scores.append(_f1(y_all[test_idx], base, "weighted"))
        pred, _ = ours(
            [clean[i] for i in fit_idx],
            y_all[fit_idx],
            [clean[i] for i in val_idx],
            y_all[val_idx],
            [clean[i] for i in test_idx],
            codec.n_classes,
            params,
        )
        our_scores.append(_f1(y_all[test_idx], pred, "weighted"))
    return {
        "case": f"real sample, {folds}-fold CV, {SPLIT_NAMES[group_by]}: linear - baseline",
        "weighted_f1": float(np.mean(our_scores)),
        "baseline_weighted_f1": float(np.mean(base_scores)),
        "gain": float(np.mean(our_scores) - np.mean(base_scores)),
        "gain_std": float(np.std(np.asarray(our_scores) - np.asarray(base_scores))),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=85_000)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument(
        "--sample", type=Path, default=REAL_SAMPLE, help="folder of the real sample's X/Y files"
    )
    args = parser.parse_args()
    params = LinearParams()
    rows = [synthetic_case(args.rows, params)] if args.rows else []  # --rows 0: real sample only
    if (args.sample / "X_train_sample.csv").is_file():
        for group_by in SPLIT_NAMES:
            rows += real_cases(params, args.folds, group_by, args.sample)
    else:
        print(f"skipped the real sample: {args.sample} is absent")
    columns = [
        "case",
        "rows_kept_together",
        "train_rows",
        "test_rows",
        "train_s",
        "weighted_f1",
        "macro_f1",
        "baseline_weighted_f1",
        "gain",
        "gain_std",
        "meets_120s",
    ]
    print_table(rows, columns)
    path = write_json(
        "train",
        {
            "targets": {"seconds": TARGET_SECONDS, "gain": TARGET_GAIN},
            "params": params.model_dump(),
            "cases": rows,
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()

"""Tests of the synthetic listings generator: file format, class balance, defects, determinism."""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import f1_score
from sklearn.svm import LinearSVC

from prodcat_core.datasets import PROVENANCE_FILE
from prodcat_core.labels import CATEGORY_NAMES, REAL_CLASS_COUNTS
from prodcat_data import synthetic
from prodcat_data.synthetic import generate_listings, write_challenge_files

N_ROWS = 600
SEED = 7
X_HEADER = b",designation,description,productid,imageid"
Y_HEADER = b",prdtypecode"
HTML = re.compile(r"<[a-zA-Z/][^>]*>|&[a-zA-Z]+;|&#\d+;")
# A UTF-8 lead byte read as cp1252 (Ã, Â, Å, â) followed by a continuation byte read the same way.
MOJIBAKE = re.compile(
    "[\u00c2\u00c3\u00c5\u00e2][\u0080-\u00bf\u0152-\u0192\u02c6-\u02dc\u2013-\u2122]"
)


@pytest.fixture(scope="module")
def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    return generate_listings(N_ROWS, seed=SEED)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    out_dir = tmp_path_factory.mktemp("synthetic") / "raw" / "nested"  # does not exist yet
    return write_challenge_files(out_dir, N_ROWS, seed=SEED)


def _has_mojibake(x: pd.DataFrame) -> pd.Series:
    return x["designation"].str.contains(MOJIBAKE) | x["description"].fillna("").str.contains(
        MOJIBAKE
    )


def _texts(x: pd.DataFrame) -> list[str]:
    return [f"{d} {t}" for d, t in zip(x["designation"], x["description"].fillna(""), strict=True)]


# --- file format ---------------------------------------------------------------------------------


def test_files_have_the_challenge_names_and_headers(
    files: tuple[Path, Path], frames: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    x_path, y_path = files
    assert (x_path.name, y_path.name) == ("X_train_update.csv", "Y_train_CVw08PX.csv")
    assert x_path.parent == y_path.parent
    assert sorted(p.name for p in x_path.parent.iterdir()) == sorted(
        [x_path.name, y_path.name, PROVENANCE_FILE]
    )
    x_bytes, y_bytes = x_path.read_bytes(), y_path.read_bytes()
    assert x_bytes.split(b"\r\n", 1)[0] == X_HEADER
    assert y_bytes.split(b"\r\n", 1)[0] == Y_HEADER
    x_bytes.decode("utf-8")  # strict: mojibake must still be valid UTF-8
    assert not x_bytes.startswith(b"\xef\xbb\xbf")
    codes = frames[1]["prdtypecode"].head(3).tolist()
    assert y_bytes.split(b"\r\n")[1:4] == [f"{i},{code}".encode() for i, code in enumerate(codes)]
    assert x_bytes.endswith(b"\r\n")  # CRLF, as the real files
    assert y_bytes.endswith(b"\r\n")


def test_files_read_back_to_the_frames(
    files: tuple[Path, Path], frames: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    x, y = frames
    x_read = pd.read_csv(files[0], index_col=0)
    y_read = pd.read_csv(files[1], index_col=0)
    pd.testing.assert_frame_equal(x_read, x, check_index_type=False)
    pd.testing.assert_frame_equal(y_read, y, check_index_type=False)
    assert x_read.index.tolist() == y_read.index.tolist() == list(range(N_ROWS))


def test_frames_have_the_challenge_columns_and_types(
    frames: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    x, y = frames
    assert list(x.columns) == ["designation", "description", "productid", "imageid"]
    assert list(y.columns) == ["prdtypecode"]
    assert x.index.tolist() == y.index.tolist() == list(range(N_ROWS))
    assert all(isinstance(d, str) and d.strip() for d in x["designation"])
    assert all(
        (isinstance(d, str) and d.strip()) or (isinstance(d, float) and np.isnan(d))
        for d in x["description"]
    )
    for column in ("productid", "imageid"):
        ids = x[column]
        assert ids.dtype == np.int64
        assert ids.is_unique
        assert ids.between(100_000_000, 9_999_999_999).all()  # 9 or 10 digits, like the real ones
    assert y["prdtypecode"].dtype == np.int64
    assert set(y["prdtypecode"]) <= set(CATEGORY_NAMES)


# --- class balance -------------------------------------------------------------------------------


def test_every_class_is_present_in_the_real_proportions(
    frames: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    counts = frames[1]["prdtypecode"].value_counts()
    assert set(counts.index) == set(REAL_CLASS_COUNTS)
    total = sum(REAL_CLASS_COUNTS.values())
    for code, real in REAL_CLASS_COUNTS.items():
        assert abs(counts[code] - N_ROWS * real / total) < 1, code  # largest remainder


@pytest.mark.parametrize("n_rows", [54, 55, 60, 81, 100])
def test_small_datasets_keep_two_rows_per_class(n_rows: int) -> None:
    x, y = generate_listings(n_rows, seed=1)
    counts = y["prdtypecode"].value_counts()
    assert len(x) == len(y) == n_rows
    assert set(counts.index) == set(REAL_CLASS_COUNTS)
    assert counts.min() >= 2


@pytest.mark.parametrize("n_rows", [-1, 0, 1, 53])
def test_too_few_rows_is_an_error(n_rows: int, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least 54"):
        generate_listings(n_rows)
    with pytest.raises(ValueError, match="at least 54"):
        write_challenge_files(tmp_path / "out", n_rows)
    assert not (tmp_path / "out").exists()


def test_rows_are_shuffled(frames: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    codes = frames[1]["prdtypecode"].to_numpy()
    changes = int((codes[1:] != codes[:-1]).sum())
    assert changes > N_ROWS // 2  # sorted by class it would change only 26 times


# --- realism defects -----------------------------------------------------------------------------


def test_missing_descriptions_rate(frames: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    rate = frames[0]["description"].isna().mean()
    assert rate == pytest.approx(synthetic.MISSING_DESCRIPTION_RATE, abs=0.03)


def test_html_rate_and_markup(frames: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    x = frames[0]
    present = x["description"].dropna()
    is_html = present.str.contains(HTML)
    assert is_html.mean() == pytest.approx(synthetic.HTML_RATE, abs=0.05)
    assert not present[~is_html].str.contains("<").any()
    assert not x["designation"].str.contains("<").any()
    html = " ".join(present[is_html])
    markup = ["<br", "<p>", "<b>", "<span class=", "<li>", "&eacute;", "&agrave;", "&#39;"]
    assert sum(m in html for m in markup) >= 6, [m for m in markup if m not in html]


def test_mojibake_rate_and_kind(frames: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    x = frames[0]
    garbled = x[_has_mojibake(x)]
    assert len(garbled) / len(x) == pytest.approx(synthetic.MOJIBAKE_RATE, abs=0.01)
    # It is UTF-8 read as cp1252: encoding back as cp1252 gives the UTF-8 bytes of the original.
    repaired = 0
    for text in garbled["designation"]:
        if "\ufffd" in text:  # bytes cp1252 leaves undefined are lost; rare in French
            continue
        original = text.encode("cp1252").decode("utf-8")
        assert not MOJIBAKE.search(original)
        repaired += 1
    assert repaired >= 0.8 * len(garbled)


def test_duplicate_rate_within_one_class(frames: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    x, y = frames
    both = x.join(y)
    repeated = both.duplicated(["designation", "description"])
    assert repeated.mean() == pytest.approx(synthetic.DUPLICATE_RATE, abs=0.005)
    groups = both[both.duplicated(["designation", "description"], keep=False)].groupby(
        ["designation", "description"], dropna=False
    )
    assert (groups["prdtypecode"].nunique() == 1).all()
    assert (groups["productid"].nunique() == groups.size()).all()


def test_some_descriptions_repeat_the_designation(
    frames: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    x = frames[0]
    plain = x[x["description"].notna() & ~x["description"].fillna("").str.contains(HTML)]
    repeats = [
        d.startswith(t) for t, d in zip(plain["designation"], plain["description"], strict=True)
    ]
    assert 0.05 < np.mean(repeats) < 0.3


# --- determinism and size ------------------------------------------------------------------------


def test_same_seed_same_bytes_other_seed_other_data(tmp_path: Path) -> None:
    first = write_challenge_files(tmp_path / "a", N_ROWS, seed=3)
    second = write_challenge_files(tmp_path / "b", N_ROWS, seed=3)
    other = write_challenge_files(tmp_path / "c", N_ROWS, seed=4)
    for a, b, c in zip(first, second, other, strict=True):
        assert a.read_bytes() == b.read_bytes()
        assert a.read_bytes() != c.read_bytes()
    x3, _ = generate_listings(N_ROWS, seed=3)
    x4, _ = generate_listings(N_ROWS, seed=4)
    assert set(x3["designation"]) != set(x4["designation"])
    assert not set(x3["productid"]) & set(x4["productid"])


def test_full_size_is_deterministic() -> None:
    # Speed is measured in benchmarks/preprocess.py, not asserted here.
    n_rows = 85_000
    x, y = generate_listings(n_rows, seed=42)
    x_again, y_again = generate_listings(n_rows, seed=42)
    digest = [hashlib.sha256(f.to_csv().encode()).hexdigest() for f in (x, y)]
    assert digest == [hashlib.sha256(f.to_csv().encode()).hexdigest() for f in (x_again, y_again)]
    assert len(x) == len(y) == n_rows
    assert x["productid"].is_unique
    assert x["imageid"].is_unique
    assert x.duplicated(["designation", "description"]).mean() == pytest.approx(
        synthetic.DUPLICATE_RATE, abs=0.002
    )
    assert _has_mojibake(x).mean() == pytest.approx(synthetic.MOJIBAKE_RATE, abs=0.005)


# --- atomic writes -------------------------------------------------------------------------------


def test_a_failed_write_leaves_no_partial_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out_dir = tmp_path / "raw"
    x_path, y_path = write_challenge_files(out_dir, 60, seed=1)
    before = x_path.read_bytes(), y_path.read_bytes()

    def crash(fd: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", crash)  # the last step before the rename
    with pytest.raises(OSError, match="disk full"):
        write_challenge_files(out_dir, 80, seed=2)
    assert (x_path.read_bytes(), y_path.read_bytes()) == before
    assert sorted(p.name for p in out_dir.iterdir()) == sorted(
        [x_path.name, y_path.name, PROVENANCE_FILE]
    )


# --- learnability --------------------------------------------------------------------------------


def test_classes_are_learnable_but_not_trivially_separable() -> None:
    x_train, y_train = generate_listings(2_000, seed=11)
    x_test, y_test = generate_listings(1_000, seed=12)
    vectorizer = TfidfVectorizer(sublinear_tf=True)
    model = LinearSVC().fit(vectorizer.fit_transform(_texts(x_train)), y_train["prdtypecode"])
    predicted = model.predict(vectorizer.transform(_texts(x_test)))
    score = f1_score(y_test["prdtypecode"], predicted, average="weighted")
    assert 0.6 < score < 0.99, score


def test_provenance_marks_the_files_it_wrote(tmp_path: Path) -> None:
    x_path, y_path = write_challenge_files(tmp_path, 100, seed=5)
    provenance = json.loads((tmp_path / PROVENANCE_FILE).read_text())
    assert provenance["synthetic"] is True
    assert provenance["x_sha256"] == hashlib.sha256(x_path.read_bytes()).hexdigest()
    assert provenance["y_sha256"] == hashlib.sha256(y_path.read_bytes()).hexdigest()

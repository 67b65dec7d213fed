"""Import validation: every bad input is refused with a message that says where, and leaves the
dataset store exactly as it was; good inputs become an immutable `ds-…` version."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import re
import shutil
import socket
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from prodcat_core.datasets import (
    PROVENANCE_FILE,
    ROWS_FILE,
    SCHEMA_VERSION,
    X_FILENAME,
    Y_FILENAME,
    DatasetManifest,
    dataset_store,
)
from prodcat_core.errors import (
    InvalidInputError,
    NotFoundError,
    PayloadTooLargeError,
    ProdcatError,
)
from prodcat_core.store import MANIFEST
from prodcat_data.config import DataSettings
from prodcat_data.importer import dataset_id_for, import_dataset

Digest = Callable[[Path], dict[str, str]]

X_HEADER = ("", "designation", "description", "productid", "imageid")
Y_HEADER = ("", "prdtypecode")
# Ids differ from row numbers, so a message that names one is not mistaken for the other.
X_ROWS = (
    ("1000", "Chaise de jardin en teck", "Pliante, <b>teck</b> massif", "3804725264", "1263597046"),
    ("1001", "Livre de poche", "", "436067568", "1008141237"),
    ("1002", "Piscine gonflable ronde", "Piscine 3 m &amp; pompe", "201115110", "938777978"),
    ("1003", "Figurine Pop! Star Wars", "Neuve, en boîte", "50418756", "457047496"),
)
Y_ROWS = (("1000", "2582"), ("1001", "10"), ("1002", "2583"), ("1003", "1140"))


def _csv(header: Sequence[str], rows: Sequence[Sequence[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def _x(rows: Sequence[Sequence[str]] = X_ROWS, header: Sequence[str] = X_HEADER) -> bytes:
    return _csv(header, rows)


def _y(rows: Sequence[Sequence[str]] = Y_ROWS, header: Sequence[str] = Y_HEADER) -> bytes:
    return _csv(header, rows)


def _set(rows: Sequence[Sequence[str]], row: int, column: int, value: str) -> list[list[str]]:
    """A copy of rows with rows[row][column] (0-based) replaced."""
    changed = [list(r) for r in rows]
    changed[row][column] = value
    return changed


def _drop_column(rows: Sequence[Sequence[str]], column: int) -> list[list[str]]:
    return [[v for i, v in enumerate(r) if i != column] for r in rows]


def _write(folder: Path, x: bytes, y: bytes) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    x_path, y_path = folder / X_FILENAME, folder / Y_FILENAME
    x_path.write_bytes(x)
    y_path.write_bytes(y)
    return x_path, y_path


def _settings(base: DataSettings, **limits: Any) -> DataSettings:
    return base.model_copy(update=limits)


@pytest.fixture
def populated(data_settings: DataSettings, tmp_path: Path) -> DataSettings:
    """A store that holds one version already (and refs/latest), so "unchanged" means something."""
    x, y = _write(tmp_path / "earlier", _x(_set(X_ROWS, 3, 1, "Autre annonce")), _y())
    assert import_dataset(str(x), str(y), data_settings).created
    return data_settings


def _case(
    name: str,
    *,
    x: bytes | None = None,
    y: bytes | None = None,
    error: type[ProdcatError] = InvalidInputError,
    file: str = X_FILENAME,
    says: Sequence[str] = (),
    **limits: int,
) -> Any:
    return pytest.param(
        _x() if x is None else x,
        _y() if y is None else y,
        error,
        file,
        tuple(says),
        limits,
        id=name,
    )


_LATIN1_ROW_2 = _x().replace(b"Livre de poche", "Livre d'été".encode("latin-1"))
_FF_ROW_3 = _x().replace(b"Piscine gonflable", b"Piscine \xff gonflable")
# Row 4's description has no quotes of its own that could close the stray one.
_UNTERMINATED_ROW_3 = _x(_set(X_ROWS, 3, 2, "Neuve en boîte")).replace(
    b"Piscine gonflable ronde", b'"Piscine gonflable ronde'
)

BAD_INPUTS = [
    # Header.
    _case(
        "x-missing-column",
        x=_x(_drop_column(X_ROWS, 4), _drop_column([X_HEADER], 4)[0]),
        says=[r"missing column\(s\) imageid"],
    ),
    _case(
        "x-missing-two-columns",
        x=_x(_drop_column(_drop_column(X_ROWS, 4), 2), ("", "designation", "productid")),
        says=[r"missing column\(s\) description, imageid"],
    ),
    _case(
        "y-missing-column",
        y=_y(header=("", "label")),
        file=Y_FILENAME,
        says=[r"missing column\(s\) prdtypecode"],
    ),
    _case(
        "x-first-column-named",
        x=_x(header=("id", *X_HEADER[1:])),
        says=["first column must be the unnamed row index", "'id'"],
    ),
    _case(
        "x-no-index-column",
        x=_x(_drop_column(X_ROWS, 0), X_HEADER[1:]),
        says=["first column must be the unnamed row index", "'designation'"],
    ),
    _case(
        "y-first-column-named",
        y=_y(header=("id", "prdtypecode")),
        file=Y_FILENAME,
        says=["first column must be the unnamed row index"],
    ),
    # Types.
    _case("x-id-not-integer", x=_x(_set(X_ROWS, 2, 0, "abc")), says=["row 3", "'abc'"]),
    _case("x-id-fraction", x=_x(_set(X_ROWS, 1, 0, "1001.5")), says=["row 2", "'1001.5'"]),
    _case("x-id-negative", x=_x(_set(X_ROWS, 3, 0, "-4")), says=["row 4", "'-4'"]),
    _case("x-id-missing", x=_x(_set(X_ROWS, 1, 0, "")), says=["row 2", "row index is missing"]),
    _case(
        "y-id-not-integer",
        y=_y(_set(Y_ROWS, 2, 0, "x1002")),
        file=Y_FILENAME,
        says=["row 3", "'x1002'"],
    ),
    _case(
        "x-productid-not-integer",
        x=_x(_set(X_ROWS, 1, 3, "43606a")),
        says=[r"row 2 \(id 1001\)", "productid '43606a'"],
    ),
    _case(
        "x-productid-fraction",
        x=_x(_set(X_ROWS, 2, 3, "2011.5")),
        says=[r"row 3 \(id 1002\)", "productid"],
    ),
    _case(
        "x-imageid-missing",
        x=_x(_set(X_ROWS, 3, 4, "")),
        says=[r"row 4 \(id 1003\)", "imageid"],
    ),
    _case(
        "y-code-not-integer",
        y=_y(_set(Y_ROWS, 2, 1, "dix")),
        file=Y_FILENAME,
        says=[r"row 3 \(id 1002\)", "prdtypecode 'dix'"],
    ),
    _case(
        "y-code-fraction",
        y=_y(_set(Y_ROWS, 0, 1, "10.5")),
        file=Y_FILENAME,
        says=[r"row 1 \(id 1000\)", "'10.5'"],
    ),
    # Ids: duplicates and X/Y mismatches.
    _case(
        "x-duplicate-id",
        x=_x(_set(X_ROWS, 3, 0, "1001")),
        says=[r"row 4 \(id 1001\)", "duplicate id"],
    ),
    _case(
        "y-duplicate-id",
        y=_y(_set(Y_ROWS, 2, 0, "1000")),
        file=Y_FILENAME,
        says=[r"row 3 \(id 1000\)", "duplicate id"],
    ),
    _case(
        "x-id-without-label",
        y=_y(Y_ROWS[:2] + Y_ROWS[3:]),
        says=["id 1002", "row 3", "no label", Y_FILENAME],
    ),
    _case(
        "y-id-without-row",
        x=_x(X_ROWS[:2] + X_ROWS[3:]),
        file=Y_FILENAME,
        says=["id 1002", "row 3", "no row", X_FILENAME],
    ),
    # Labels.
    _case(
        "y-label-missing",
        y=_y(_set(Y_ROWS, 1, 1, "")),
        file=Y_FILENAME,
        says=[r"row 2 \(id 1001\)", "prdtypecode is missing"],
    ),
    _case(
        "y-label-blank",
        y=_y(_set(Y_ROWS, 3, 1, "   ")),
        file=Y_FILENAME,
        says=[r"row 4 \(id 1003\)", "prdtypecode is missing"],
    ),
    _case(
        "y-label-unknown",
        y=_y(_set(Y_ROWS, 3, 1, "9999")),
        file=Y_FILENAME,
        says=[r"row 4 \(id 1003\)", "prdtypecode 9999 is not a known product type"],
    ),
    # Text.
    _case(
        "x-designation-empty",
        x=_x(_set(X_ROWS, 1, 1, "")),
        says=[r"row 2 \(id 1001\)", "designation is empty"],
    ),
    _case(
        "x-designation-blank",
        x=_x(_set(X_ROWS, 2, 1, " \t ")),
        says=[r"row 3 \(id 1002\)", "designation is empty"],
    ),
    _case(
        "x-designation-too-long",
        x=_x(_set(X_ROWS, 2, 1, "d" * 41)),
        says=[r"row 3 \(id 1002\)", "designation is longer than 40 characters"],
        max_text_chars=40,
    ),
    _case(
        "x-description-too-long",
        x=_x(_set(X_ROWS, 3, 2, "é" * 41)),
        says=[r"row 4 \(id 1003\)", "description is longer than 40 characters"],
        max_text_chars=40,
    ),
    # Encoding.
    _case("x-byte-ff", x=_FF_ROW_3, says=["row 3", "id 1002", "UTF-8"]),
    _case("x-latin-1", x=_LATIN1_ROW_2, says=["row 2", "id 1001", "UTF-8"]),
    _case(
        "y-latin-1",
        y=_y().replace(b"1001,10", "1001,10é".encode("latin-1")),
        file=Y_FILENAME,
        says=["row 2", "id 1001", "UTF-8"],
    ),
    # Size limits.
    _case(
        "x-over-max-file-bytes",
        error=PayloadTooLargeError,
        says=[f"larger than the limit of {len(_x()) - 1} bytes"],
        max_file_bytes=len(_x()) - 1,
    ),
    _case(
        "y-over-max-file-bytes",
        y=_y() + b"\r\n" * len(_x()),  # blank lines: valid, but bigger than X
        error=PayloadTooLargeError,
        file=Y_FILENAME,
        says=[f"larger than the limit of {len(_x())} bytes"],
        max_file_bytes=len(_x()),
    ),
    _case(
        "x-over-max-rows",
        error=PayloadTooLargeError,
        says=["4 rows, more than the limit of 3"],
        max_rows=3,
    ),
    # Empty and malformed files.
    _case("x-empty-file", x=b"", says=["the file is empty"]),
    _case("y-empty-file", y=b"", file=Y_FILENAME, says=["the file is empty"]),
    _case("x-header-only", x=_x(()), says=["has a header but no rows"]),
    _case("y-header-only", y=_y(()), file=Y_FILENAME, says=["has a header but no rows"]),
    _case("x-unterminated-quote", x=_UNTERMINATED_ROW_3, says=["not a valid CSV file", "row 3"]),
    _case(
        "x-extra-field",
        x=_x(_set(X_ROWS, 1, 4, "1008141237,999")).replace(b'"1008141237,999"', b"1008141237,999"),
        says=["not a valid CSV file", "(row 2|line 3)"],
    ),
    _case(
        "x-missing-field",
        x=_x([list(X_ROWS[0]), list(X_ROWS[1][:4]), *map(list, X_ROWS[2:])]),
        says=[r"row 2 \(id 1001\)", "imageid"],
    ),
]


@pytest.mark.parametrize(("x", "y", "error", "file", "says", "limits"), BAD_INPUTS)
def test_bad_input_is_refused_and_the_store_is_unchanged(
    populated: DataSettings,
    system_tmp: Path,
    tmp_path: Path,
    digest: Digest,
    x: bytes,
    y: bytes,
    error: type[ProdcatError],
    file: str,
    says: tuple[str, ...],
    limits: dict[str, int],
) -> None:
    settings = _settings(populated, **limits)
    x_path, y_path = _write(tmp_path / "in", x, y)
    before = digest(settings.datasets_dir)
    with pytest.raises(ProdcatError) as info:
        import_dataset(str(x_path), str(y_path), settings)
    assert type(info.value) is error, info.value.message
    message = info.value.message
    assert message.startswith(f"{file}: "), message
    for pattern in says:
        assert re.search(pattern, message), f"{pattern!r} not in {message!r}"
    assert "\n" not in message, f"a CLI prints one line: {message!r}"
    assert digest(settings.datasets_dir) == before
    assert not [p for p in settings.datasets_dir.iterdir() if p.name.startswith(".tmp-")]
    assert list(system_tmp.iterdir()) == []


@pytest.mark.parametrize(
    ("which", "source", "error", "says"),
    [
        ("x", "{tmp}/absent/X_train_update.csv", NotFoundError, "no such file"),
        ("y", "{tmp}/absent/Y_train_CVw08PX.csv", NotFoundError, "no such file"),
        ("x", "{tmp}", NotFoundError, "no such file"),
        ("x", "file://{tmp}/absent.csv", NotFoundError, "no such file"),
        ("x", "ftp://example.com/X_train_update.csv", InvalidInputError, "unsupported source"),
        ("y", "gopher://example.com/Y.csv", InvalidInputError, "unsupported source"),
    ],
)
def test_bad_source_is_refused_and_the_store_is_unchanged(
    populated: DataSettings,
    system_tmp: Path,
    tmp_path: Path,
    digest: Digest,
    which: str,
    source: str,
    error: type[ProdcatError],
    says: str,
) -> None:
    x_path, y_path = _write(tmp_path / "in", _x(), _y())
    bad = source.format(tmp=tmp_path)
    sources = (bad, str(y_path)) if which == "x" else (str(x_path), bad)
    before = digest(populated.datasets_dir)
    with pytest.raises(ProdcatError) as info:
        import_dataset(*sources, populated)
    assert type(info.value) is error
    assert info.value.message.startswith(bad)
    assert says in info.value.message
    assert digest(populated.datasets_dir) == before
    assert list(system_tmp.iterdir()) == []


def test_bad_input_on_an_empty_store_writes_nothing(
    data_settings: DataSettings, tmp_path: Path
) -> None:
    x_path, y_path = _write(tmp_path / "in", _x(), _y(_set(Y_ROWS, 0, 1, "9999")))
    with pytest.raises(InvalidInputError):
        import_dataset(str(x_path), str(y_path), data_settings)
    assert not data_settings.datasets_dir.exists()


# ------------------------------------------------------------------------------------------------
# Good imports.
# ------------------------------------------------------------------------------------------------


def test_good_import_creates_a_version(data_settings: DataSettings, tmp_path: Path) -> None:
    x_path, y_path = _write(tmp_path / "in", _x(), _y())
    result = import_dataset(str(x_path), str(y_path), data_settings)

    x_sha = hashlib.sha256(x_path.read_bytes()).hexdigest()
    y_sha = hashlib.sha256(y_path.read_bytes()).hexdigest()
    assert result.created
    assert re.fullmatch(r"ds-[0-9a-f]{12}", result.dataset_id)
    assert result.dataset_id == dataset_id_for(x_sha, y_sha)
    assert result.path == data_settings.datasets_dir / result.dataset_id
    assert sorted(p.name for p in result.path.iterdir()) == [MANIFEST, ROWS_FILE]
    assert sorted(p.name for p in data_settings.datasets_dir.iterdir()) == [
        result.dataset_id,
        "refs",
    ]
    store = dataset_store(data_settings.datasets_dir)
    assert store.resolve("latest") == result.dataset_id

    manifest = json.loads((result.path / MANIFEST).read_text(encoding="utf-8"))
    assert manifest["schema_version"] == SCHEMA_VERSION
    assert manifest["dataset_id"] == result.dataset_id
    assert manifest["synthetic"] is False
    assert manifest["n_rows"] == 4
    assert manifest["class_counts"] == {"10": 1, "1140": 1, "2582": 1, "2583": 1}
    assert manifest["empty_descriptions"] == 1
    sources = {s["role"]: s for s in manifest["sources"]}
    assert sources["x"] == {
        "role": "x",
        "name": X_FILENAME,
        "source": str(x_path),
        "sha256": x_sha,
        "bytes": x_path.stat().st_size,
    }
    assert sources["y"]["sha256"] == y_sha
    assert sources["y"]["name"] == Y_FILENAME
    assert DatasetManifest.model_validate(manifest) == result.manifest

    rows = pd.read_parquet(result.path / ROWS_FILE)
    assert list(rows.columns) == [
        "id",
        "designation",
        "description",
        "productid",
        "imageid",
        "prdtypecode",
    ]
    assert rows["id"].tolist() == [1000, 1001, 1002, 1003]
    assert rows["prdtypecode"].tolist() == [2582, 10, 2583, 1140]
    assert rows["productid"].tolist() == [3804725264, 436067568, 201115110, 50418756]
    assert rows["imageid"].dtype == np.int64
    # Text is stored as given (the text function runs at preprocess); empty description -> null.
    assert rows["designation"].iloc[0] == "Chaise de jardin en teck"
    assert rows["description"].iloc[2] == "Piscine 3 m &amp; pompe"
    assert rows["description"].iloc[3] == "Neuve, en boîte"
    assert rows["description"].iloc[1] is None


def test_labels_are_joined_by_id_not_by_position(
    data_settings: DataSettings, tmp_path: Path
) -> None:
    shuffled_x = [X_ROWS[2], X_ROWS[0], X_ROWS[3], X_ROWS[1]]
    shuffled_y = [Y_ROWS[3], Y_ROWS[1], Y_ROWS[0], Y_ROWS[2]]
    x_path, y_path = _write(tmp_path / "in", _x(shuffled_x), _y(shuffled_y))
    result = import_dataset(str(x_path), str(y_path), data_settings)
    rows = pd.read_parquet(result.path / ROWS_FILE)
    assert dict(zip(rows["id"], rows["prdtypecode"], strict=True)) == {
        1000: 2582,
        1001: 10,
        1002: 2583,
        1003: 1140,
    }
    assert rows["id"].tolist() == sorted(rows["id"])


def test_byte_order_mark_and_quoted_multiline_fields_are_accepted(
    data_settings: DataSettings, tmp_path: Path
) -> None:
    rows = _set(X_ROWS, 0, 2, 'ligne 1\r\nligne "2", avec virgule')
    x_path, y_path = _write(tmp_path / "in", b"\xef\xbb\xbf" + _x(rows), _y())
    result = import_dataset(str(x_path), str(y_path), data_settings)
    frame = pd.read_parquet(result.path / ROWS_FILE)
    assert frame["description"].iloc[0] == 'ligne 1\r\nligne "2", avec virgule'
    assert result.manifest.n_rows == 4


def test_limits_are_inclusive(data_settings: DataSettings, tmp_path: Path) -> None:
    x_path, y_path = _write(tmp_path / "in", _x(), _y())
    settings = _settings(
        data_settings, max_file_bytes=x_path.stat().st_size, max_rows=4, max_text_chars=27
    )
    assert import_dataset(str(x_path), str(y_path), settings).created


def test_generated_files_import_as_synthetic(
    data_settings: DataSettings, synthetic_dir: Path
) -> None:
    x_path, y_path = synthetic_dir / X_FILENAME, synthetic_dir / Y_FILENAME
    result = import_dataset(str(x_path), str(y_path), data_settings)
    assert result.created
    assert result.manifest.synthetic is True
    assert result.manifest.n_rows == 300
    assert len(result.manifest.class_counts) == 27
    assert sum(result.manifest.class_counts.values()) == 300
    counts = pd.read_csv(y_path, index_col=0)["prdtypecode"].value_counts()
    assert result.manifest.class_counts == dict(
        zip(counts.index.astype(int).tolist(), counts.tolist(), strict=True)
    )


def _edit_provenance(folder: Path, **changes: object) -> None:
    path = folder / PROVENANCE_FILE
    data = json.loads(path.read_text(encoding="utf-8"))
    data.update(changes)
    path.write_text(json.dumps(data), encoding="utf-8")


def _edit_first_designation(x_path: Path) -> None:
    x = pd.read_csv(x_path, index_col=0, dtype=str, keep_default_na=False)
    designations = x["designation"].tolist()
    designations[0] = f"{designations[0]} (modifié)"
    x["designation"] = designations
    x.to_csv(x_path, lineterminator="\r\n")


@pytest.mark.parametrize(
    "tamper",
    [
        lambda d: (d / PROVENANCE_FILE).unlink(),
        lambda d: (d / PROVENANCE_FILE).write_text("{not json", encoding="utf-8"),
        lambda d: _edit_provenance(d, x_sha256="0" * 64),
        lambda d: _edit_provenance(d, y_sha256="0" * 64),
        lambda d: _edit_first_designation(d / X_FILENAME),
    ],
    ids=["no-provenance", "provenance-not-json", "x-hash-differs", "y-hash-differs", "x-edited"],
)
def test_synthetic_only_when_the_provenance_matches(
    data_settings: DataSettings, synthetic_dir: Path, tamper: Callable[[Path], object]
) -> None:
    tamper(synthetic_dir)
    result = import_dataset(
        str(synthetic_dir / X_FILENAME), str(synthetic_dir / Y_FILENAME), data_settings
    )
    assert result.manifest.synthetic is False


def test_provenance_beside_other_files_does_not_count(
    data_settings: DataSettings, synthetic_dir: Path, tmp_path: Path
) -> None:
    """Generated files copied elsewhere, without their provenance, are not marked synthetic."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for name in (X_FILENAME, Y_FILENAME):
        shutil.copy(synthetic_dir / name, elsewhere / name)
    result = import_dataset(str(elsewhere / X_FILENAME), str(elsewhere / Y_FILENAME), data_settings)
    assert result.manifest.synthetic is False


def _mtimes(root: Path) -> dict[str, int]:
    return {p.relative_to(root).as_posix(): p.stat().st_mtime_ns for p in root.rglob("*")}


def test_importing_the_same_files_again_is_a_no_op(
    data_settings: DataSettings,
    tmp_path: Path,
    digest: Digest,
    caplog: pytest.LogCaptureFixture,
) -> None:
    x_path, y_path = _write(tmp_path / "in", _x(), _y())
    first = import_dataset(str(x_path), str(y_path), data_settings)
    version_before = _mtimes(first.path)
    store_before = digest(data_settings.datasets_dir)

    caplog.set_level(logging.INFO, logger="prodcat_data.importer")
    again = import_dataset(str(x_path), str(y_path), data_settings)
    assert f"dataset {first.dataset_id} already imported from the same files: nothing to do" in [
        r.getMessage() for r in caplog.records
    ]
    assert again.created is False
    assert again.dataset_id == first.dataset_id
    assert again.manifest == first.manifest
    assert _mtimes(first.path) == version_before
    assert digest(data_settings.datasets_dir) == store_before

    # Same bytes from another place (a copy, a file:// URL): same version, still a no-op.
    x_copy, y_copy = _write(tmp_path / "copy", _x(), _y())
    third = import_dataset(f"file://{x_copy}", str(y_copy), data_settings)
    assert (third.created, third.dataset_id) == (False, first.dataset_id)
    assert _mtimes(first.path) == version_before


def test_importing_an_older_version_again_makes_it_latest(
    data_settings: DataSettings, tmp_path: Path
) -> None:
    a = _write(tmp_path / "a", _x(), _y())
    b = _write(tmp_path / "b", _x(_set(X_ROWS, 0, 1, "Autre chaise")), _y())
    first = import_dataset(str(a[0]), str(a[1]), data_settings)
    second = import_dataset(str(b[0]), str(b[1]), data_settings)
    assert first.dataset_id != second.dataset_id
    store = dataset_store(data_settings.datasets_dir)
    assert store.resolve("latest") == second.dataset_id
    assert store.ids() == sorted([first.dataset_id, second.dataset_id])
    import_dataset(str(a[0]), str(a[1]), data_settings)
    assert store.resolve("latest") == first.dataset_id


def test_the_id_depends_on_both_files() -> None:
    a, b = "a" * 64, "b" * 64
    assert dataset_id_for(a, b) == dataset_id_for(a, b)
    assert dataset_id_for(a, b) != dataset_id_for(b, a)
    assert dataset_id_for(a, b) != dataset_id_for(a, a)


def test_a_failure_while_publishing_leaves_the_store_unchanged(
    populated: DataSettings,
    tmp_path: Path,
    digest: Digest,
    system_tmp: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    x_path, y_path = _write(tmp_path / "in", _x(), _y())
    before = digest(populated.datasets_dir)
    real_to_parquet = pd.DataFrame.to_parquet

    def to_parquet_then_fail(self: pd.DataFrame, path: Any, *args: Any, **kwargs: Any) -> None:
        real_to_parquet(self, path, *args, **kwargs)  # a whole file in the staging folder ...
        raise OSError("No space left on device")  # ... then the disk fills up

    monkeypatch.setattr(pd.DataFrame, "to_parquet", to_parquet_then_fail)
    with pytest.raises(OSError, match="No space left"):
        import_dataset(str(x_path), str(y_path), populated)
    assert digest(populated.datasets_dir) == before
    assert list(system_tmp.iterdir()) == []

    # Once the disk has room again the same import goes through.
    monkeypatch.undo()
    assert import_dataset(str(x_path), str(y_path), populated).created


# ------------------------------------------------------------------------------------------------
# Imports over HTTP, from a real server on 127.0.0.1.
# ------------------------------------------------------------------------------------------------


def test_import_over_http(
    data_settings: DataSettings, http_url: str, http_root: Path, system_tmp: Path
) -> None:
    x_path, y_path = _write(http_root, _x(), _y())
    result = import_dataset(f"{http_url}/{X_FILENAME}", f"{http_url}/{Y_FILENAME}", data_settings)
    assert result.created
    assert result.manifest.n_rows == 4
    sources = {s.role: s for s in result.manifest.sources}
    assert sources["x"].source == f"{http_url}/{X_FILENAME}"
    assert sources["x"].name == X_FILENAME
    assert sources["x"].sha256 == hashlib.sha256(x_path.read_bytes()).hexdigest()
    assert sources["y"].bytes == y_path.stat().st_size
    assert list(system_tmp.iterdir()) == []  # the downloads are gone
    # The same files from disk are the same version.
    assert import_dataset(str(x_path), str(y_path), data_settings).dataset_id == result.dataset_id


def test_import_over_http_without_content_length(
    data_settings: DataSettings, http_url: str, http_root: Path
) -> None:
    _write(http_root, _x(), _y())
    result = import_dataset(
        f"{http_url}/stream/{X_FILENAME}", f"{http_url}/{Y_FILENAME}", data_settings
    )
    assert result.created
    assert result.manifest.n_rows == 4


@pytest.mark.parametrize(
    ("path", "error", "says"),
    [
        ("/absent.csv", NotFoundError, "not found (HTTP 404)"),
        ("/fail/500", InvalidInputError, "download failed with HTTP 500"),
        ("/fail/403", InvalidInputError, "download failed with HTTP 403"),
    ],
)
def test_http_errors(
    populated: DataSettings,
    http_url: str,
    http_root: Path,
    digest: Digest,
    system_tmp: Path,
    path: str,
    error: type[ProdcatError],
    says: str,
) -> None:
    _write(http_root, _x(), _y())
    before = digest(populated.datasets_dir)
    with pytest.raises(ProdcatError) as info:
        import_dataset(f"{http_url}{path}", f"{http_url}/{Y_FILENAME}", populated)
    assert type(info.value) is error
    assert info.value.message == f"{http_url}{path}: {says}"
    assert digest(populated.datasets_dir) == before
    assert list(system_tmp.iterdir()) == []


def test_unreachable_server(
    populated: DataSettings, tmp_path: Path, digest: Digest, system_tmp: Path
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Nothing listens on the port any more.
    url = f"http://127.0.0.1:{port}/{X_FILENAME}"
    _, y_path = _write(tmp_path / "in", _x(), _y())
    before = digest(populated.datasets_dir)
    with pytest.raises(InvalidInputError, match="download failed") as info:
        import_dataset(url, str(y_path), populated)
    assert info.value.message.startswith(url)
    assert digest(populated.datasets_dir) == before
    assert list(system_tmp.iterdir()) == []


@pytest.mark.parametrize("route", ["", "/stream"], ids=["content-length", "no-content-length"])
def test_http_download_over_the_limit_is_refused(
    populated: DataSettings,
    http_url: str,
    http_root: Path,
    digest: Digest,
    system_tmp: Path,
    route: str,
) -> None:
    x_path, _ = _write(http_root, _x(), _y())
    settings = _settings(populated, max_file_bytes=x_path.stat().st_size - 1)
    before = digest(settings.datasets_dir)
    with pytest.raises(PayloadTooLargeError) as info:
        import_dataset(f"{http_url}{route}/{X_FILENAME}", f"{http_url}/{Y_FILENAME}", settings)
    assert info.value.message == (
        f"{X_FILENAME}: larger than the limit of {x_path.stat().st_size - 1} bytes"
    )
    assert digest(settings.datasets_dir) == before
    assert list(system_tmp.iterdir()) == []

"""Appending labelled files to an existing dataset version (`import --base`): a new immutable
version = base ∪ new rows, duplicates dropped, conflicting labels reported, the base unchanged; a
file that does not fit the base is refused and nothing is written."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from prodcat_core.datasets import ROWS_FILE, X_FILENAME, Y_FILENAME, dataset_store
from prodcat_core.errors import InvalidInputError, NotFoundError
from prodcat_data.config import DataSettings
from prodcat_data.importer import ImportResult, import_dataset

from .conftest import TreeDigest

BASE_X = (
    ",designation,description,productid,imageid\n"
    "0,Chaise de jardin en teck,Pliante,11,21\n"
    "1,Livre de poche,,12,22\n"
    "2,Piscine gonflable ronde,Piscine 3 m,13,23\n"
)
BASE_Y = ",prdtypecode\n0,2582\n1,10\n2,2583\n"
# Row 0 repeats base row 1 (same label), row 1 repeats base row 2 under another label,
# rows 2 and 3 are new.
NEW_X = (
    ",designation,description,productid,imageid\n"
    "0,Livre de poche,,12,22\n"
    "1,Piscine gonflable ronde,Piscine 3 m,13,23\n"
    "2,Carte Pokémon Dracaufeu,Holo,14,24\n"
    "3,Console de jeu portable,,15,25\n"
)
NEW_Y = ",prdtypecode\n0,10\n1,1560\n2,1160\n3,60\n"


def _write(folder: Path, x: str, y: str) -> tuple[str, str]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / X_FILENAME).write_text(x, encoding="utf-8")
    (folder / Y_FILENAME).write_text(y, encoding="utf-8")
    return str(folder / X_FILENAME), str(folder / Y_FILENAME)


@pytest.fixture
def base(data_settings: DataSettings, tmp_path: Path) -> ImportResult:
    return import_dataset(*_write(tmp_path / "base", BASE_X, BASE_Y), data_settings)


def test_append_makes_a_new_version_of_old_and_new_rows(
    base: ImportResult,
    data_settings: DataSettings,
    tmp_path: Path,
    digest: Callable[[Path], TreeDigest],
) -> None:
    before = digest(base.path)
    result = import_dataset(
        *_write(tmp_path / "new", NEW_X, NEW_Y), data_settings, base=base.dataset_id
    )

    assert result.created
    assert result.dataset_id != base.dataset_id
    assert digest(base.path) == before  # the base version is immutable
    assert dataset_store(data_settings.datasets_dir).resolve("latest") == result.dataset_id
    rows = pd.read_parquet(result.path / ROWS_FILE)
    assert rows["id"].tolist() == [0, 1, 2, 5, 6]  # new ids: 3 (after the base's) + file id
    assert rows["prdtypecode"].tolist() == [2582, 10, 2583, 1160, 60]
    assert rows["description"].iloc[4] is None
    appended = result.manifest.appended
    assert appended is not None
    assert appended.base_dataset_id == base.dataset_id
    assert (appended.rows_in, appended.rows_added) == (4, 2)
    assert (appended.duplicates_dropped, appended.conflicts) == (1, 1)
    [conflict] = appended.conflict_examples
    assert (conflict.id, conflict.base_id, conflict.productid) == (1, 2, 13)
    assert (conflict.base_prdtypecode, conflict.new_prdtypecode) == (2583, 1560)
    assert result.manifest.n_rows == 5
    assert result.manifest.class_counts == {10: 1, 60: 1, 1160: 1, 2582: 1, 2583: 1}

    again = import_dataset(
        *_write(tmp_path / "again", NEW_X, NEW_Y), data_settings, base=base.dataset_id
    )
    assert not again.created
    assert again.dataset_id == result.dataset_id


def test_the_same_files_on_another_base_make_another_version(
    base: ImportResult, data_settings: DataSettings, tmp_path: Path
) -> None:
    files = _write(tmp_path / "new", NEW_X, NEW_Y)
    plain = import_dataset(*files, data_settings)
    appended = import_dataset(*files, data_settings, base=base.dataset_id)
    assert plain.dataset_id != appended.dataset_id
    assert plain.manifest.appended is None


BAD_APPENDS = {
    "extra column": (
        NEW_X.replace("imageid\n", "imageid,price\n").replace("5\n", "5,9.9\n"),
        NEW_Y,
        r"X_train_update\.csv: column\(s\) price are not in the base dataset ds-",
    ),
    "missing column": (
        re.sub(r",2[2-5]\n", "\n", NEW_X.replace(",imageid", "")),
        NEW_Y,
        r"missing column\(s\) imageid.*base dataset ds-",
    ),
    "unknown code": (NEW_X, NEW_Y.replace("3,60", "3,9999"), r"row 4 \(id 3\).*9999"),
    "label without a row": (NEW_X, NEW_Y + "4,10\n", r"no row in X_train_update\.csv"),
}


@pytest.mark.parametrize("case", sorted(BAD_APPENDS))
def test_a_file_that_does_not_fit_the_base_is_refused_and_nothing_is_written(
    case: str,
    base: ImportResult,
    data_settings: DataSettings,
    tmp_path: Path,
    digest: Callable[[Path], TreeDigest],
) -> None:
    x, y, message = BAD_APPENDS[case]
    before = digest(data_settings.datasets_dir)
    with pytest.raises(InvalidInputError, match=message):
        import_dataset(*_write(tmp_path / "bad", x, y), data_settings, base=base.dataset_id)
    assert digest(data_settings.datasets_dir) == before


def test_an_unknown_base_is_refused(data_settings: DataSettings, tmp_path: Path) -> None:
    files = _write(tmp_path / "new", NEW_X, NEW_Y)
    with pytest.raises(NotFoundError, match="ds-0123456789ab not found"):
        import_dataset(*files, data_settings, base="ds-0123456789ab")
    with pytest.raises(InvalidInputError, match="not a dataset id"):
        import_dataset(*files, data_settings, base="../etc")
    assert not data_settings.datasets_dir.exists()

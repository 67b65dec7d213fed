"""The import stage: validate the challenge's X/Y files and write an immutable dataset version.

Every check names the file, the row (1-based, header not counted) and the row's id. Nothing is
written until every check has passed, and then the version appears in one rename."""

from __future__ import annotations

import codecs
import hashlib
import json
import logging
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from prodcat_core.datasets import (
    PROVENANCE_FILE,
    ROWS_FILE,
    SCHEMA_VERSION,
    X_COLUMNS,
    Y_COLUMNS,
    DatasetManifest,
    SourceFile,
    dataset_store,
)
from prodcat_core.errors import InvalidInputError, PayloadTooLargeError
from prodcat_core.labels import CATEGORY_NAMES
from prodcat_core.store import MANIFEST, write_json_atomic
from prodcat_data.append import append_rows, load_base
from prodcat_data.config import DataSettings
from prodcat_data.sources import LocalFile, fetch

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImportResult:
    dataset_id: str
    created: bool
    manifest: DatasetManifest
    path: Path


def _check_utf8(file: LocalFile) -> None:
    """Fails on the first byte sequence that is not UTF-8, naming its row and id."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="strict")
    with file.path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as e:
                raise InvalidInputError(
                    f"{_locate_undecodable(file)}: bytes that are not UTF-8; save the file as UTF-8"
                ) from e
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as e:
        raise InvalidInputError(f"{file.name}: ends inside a UTF-8 character") from e


# What undecodable bytes become when a file is read with errors="surrogateescape".
_UNDECODABLE = "[\udc80-\udcff]"


def _locate_undecodable(file: LocalFile) -> str:
    """`<file>: row N (id I)` of the first row holding bytes that are not UTF-8 (or the header)."""
    try:
        frame = pd.read_csv(
            file.path,
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            encoding="utf-8-sig",
            encoding_errors="surrogateescape",
        )
    except (pd.errors.ParserError, ValueError):
        return file.name
    if frame.columns.str.contains(_UNDECODABLE, regex=True).any():
        return f"{file.name}: header"
    bad = np.zeros(len(frame), dtype=bool)
    for column in frame.columns:
        bad |= frame[column].str.contains(_UNDECODABLE, regex=True).to_numpy(dtype=bool)
    rows = np.flatnonzero(bad)
    if not rows.size:
        return file.name
    pos = int(rows[0])
    raw_id = str(frame.iloc[pos, 0]).encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return f"{file.name}: row {pos + 1} (id {raw_id})"


def _where(file: LocalFile, frame: pd.DataFrame, position: int) -> str:
    return f"{file.name}: row {position + 1} (id {frame.index[position]})"


def _read_csv(
    file: LocalFile,
    columns: tuple[str, ...],
    settings: DataSettings,
    *,
    exact_for: str | None = None,
) -> pd.DataFrame:
    """Reads one challenge file as strings, indexed by its unnamed first column. With `exact_for`
    (a base dataset id) the file must have exactly these columns: a column the base does not hold
    would be lost silently."""
    _check_utf8(file)
    try:
        frame = pd.read_csv(
            file.path, dtype=str, keep_default_na=False, na_filter=False, encoding="utf-8-sig"
        )
    except pd.errors.EmptyDataError as e:
        raise InvalidInputError(f"{file.name}: the file is empty") from e
    except (pd.errors.ParserError, ValueError) as e:
        reason = " ".join(str(e).split())  # pandas' messages end with a newline
        raise InvalidInputError(f"{file.name}: not a valid CSV file: {reason}") from e
    header = list(frame.columns)
    if not header or not str(header[0]).startswith("Unnamed: 0"):
        raise InvalidInputError(
            f"{file.name}: the first column must be the unnamed row index "
            f"(header starts with {header[0]!r}); expected header ',{','.join(columns)}'"
        )
    missing = [c for c in columns if c not in header]
    if missing:
        raise InvalidInputError(
            f"{file.name}: missing column(s) {', '.join(missing)}; found {', '.join(header[1:])}"
            + (f" (the columns of the base dataset {exact_for})" if exact_for else "")
        )
    extra = [str(c) for c in header[1:] if c not in columns]
    if exact_for and extra:
        raise InvalidInputError(
            f"{file.name}: column(s) {', '.join(extra)} are not in the base dataset {exact_for} "
            f"(its columns: {', '.join(columns)}); import the files as a new dataset instead"
        )
    if frame.empty:
        raise InvalidInputError(f"{file.name}: has a header but no rows")
    if len(frame) > settings.max_rows:
        raise PayloadTooLargeError(
            f"{file.name}: {len(frame)} rows, more than the limit of {settings.max_rows}"
        )
    ids = _integer_column(file, frame, header[0], "row index")
    frame = frame[list(columns)].set_axis(pd.Index(ids, name="id"), axis=0)
    duplicated = np.flatnonzero(frame.index.duplicated())
    if duplicated.size:
        first = int(duplicated[0])
        raise InvalidInputError(
            f"{_where(file, frame, first)}: duplicate id "
            f"({int(duplicated.size)} duplicated ids in the file)"
        )
    return frame


def _integer_column(file: LocalFile, frame: pd.DataFrame, column: str, label: str) -> np.ndarray:
    values = frame[column].str.strip()
    empty = np.flatnonzero((values == "").to_numpy())
    if empty.size:
        row = int(empty[0])
        raise InvalidInputError(f"{file.name}: row {row + 1}: {label} is missing")
    numbers = pd.to_numeric(values, errors="coerce")
    bad = np.flatnonzero((numbers.isna() | (numbers % 1 != 0) | (numbers < 0)).to_numpy())
    if bad.size:
        row = int(bad[0])
        raise InvalidInputError(
            f"{file.name}: row {row + 1}: {label} {values.iloc[row]!r} is not a "
            "non-negative integer"
        )
    return numbers.astype(np.int64).to_numpy()


def _validate_x(file: LocalFile, x: pd.DataFrame, settings: DataSettings) -> pd.DataFrame:
    for column in ("productid", "imageid"):
        bad = pd.to_numeric(x[column].str.strip(), errors="coerce")
        wrong = np.flatnonzero((bad.isna() | (bad % 1 != 0)).to_numpy())
        if wrong.size:
            pos = int(wrong[0])
            raise InvalidInputError(
                f"{_where(file, x, pos)}: {column} {x[column].iloc[pos]!r} is not an integer"
            )
        x[column] = bad.astype(np.int64)
    empty = np.flatnonzero((x["designation"].str.strip() == "").to_numpy())
    if empty.size:
        raise InvalidInputError(
            f"{_where(file, x, int(empty[0]))}: designation is empty "
            f"({int(empty.size)} rows with an empty designation)"
        )
    for column in ("designation", "description"):
        long = np.flatnonzero((x[column].str.len() > settings.max_text_chars).to_numpy())
        if long.size:
            raise InvalidInputError(
                f"{_where(file, x, int(long[0]))}: {column} is longer than "
                f"{settings.max_text_chars} characters"
            )
    return x


def _validate_y(file: LocalFile, y: pd.DataFrame) -> pd.Series:
    raw = y["prdtypecode"].str.strip()
    missing = np.flatnonzero((raw == "").to_numpy())
    if missing.size:
        raise InvalidInputError(f"{_where(file, y, int(missing[0]))}: prdtypecode is missing")
    codes = pd.to_numeric(raw, errors="coerce")
    bad = np.flatnonzero((codes.isna() | (codes % 1 != 0)).to_numpy())
    if bad.size:
        pos = int(bad[0])
        raise InvalidInputError(
            f"{_where(file, y, pos)}: prdtypecode {raw.iloc[pos]!r} is not an integer"
        )
    codes = codes.astype(np.int64)
    unknown = np.flatnonzero(~codes.isin(list(CATEGORY_NAMES)).to_numpy())
    if unknown.size:
        pos = int(unknown[0])
        raise InvalidInputError(
            f"{_where(file, y, pos)}: prdtypecode {int(codes.iloc[pos])} is not a known "
            "product type"
        )
    return codes


def _check_ids_match(xf: LocalFile, x: pd.DataFrame, yf: LocalFile, y: pd.DataFrame) -> None:
    only_x = np.flatnonzero(~x.index.isin(y.index))
    if only_x.size:
        raise InvalidInputError(
            f"{_where(xf, x, int(only_x[0]))}: no label in {yf.name} "
            f"({only_x.size} id(s) without a label)"
        )
    only_y = np.flatnonzero(~y.index.isin(x.index))
    if only_y.size:
        raise InvalidInputError(
            f"{_where(yf, y, int(only_y[0]))}: no row in {xf.name} "
            f"({only_y.size} id(s) without a row)"
        )


def _is_synthetic(x_file: LocalFile, y_file: LocalFile) -> bool:
    provenance = x_file.path.parent / PROVENANCE_FILE
    if not provenance.is_file():
        return False
    try:
        recorded = json.loads(provenance.read_text(encoding="utf-8"))
    except ValueError:
        return False
    return bool(
        recorded.get("x_sha256") == x_file.sha256 and recorded.get("y_sha256") == y_file.sha256
    )


def dataset_id_for(x_sha256: str, y_sha256: str, base_id: str | None = None) -> str:
    """Same inputs, same id: importing them again is a no-op. Appending to a base is another
    input: the same files on another base make another version."""
    key = f"{SCHEMA_VERSION}:{x_sha256}:{y_sha256}" + (f":{base_id}" if base_id else "")
    digest = hashlib.sha256(key.encode()).hexdigest()
    return f"ds-{digest[:12]}"


def import_dataset(
    x_source: str,
    y_source: str,
    settings: DataSettings,
    *,
    source_labels: tuple[str, str] | None = None,
    follow_redirects: bool = True,
    connect_to: Mapping[str, str] | None = None,
    base: str | None = None,
) -> ImportResult:
    """Fetches, validates and stores one X/Y pair; returns the (possibly existing) version.

    `source_labels` replace the recorded sources (an upload's temporary path means nothing to a
    reader of the manifest); for URLs whose host the caller vetted, `follow_redirects=False` and
    `connect_to` maps each URL to the address that was checked, which the download connects to.
    `base` (a dataset id or `latest`) makes the new version that dataset's rows plus these files'
    (`prodcat_data.append`)."""
    store = dataset_store(settings.datasets_dir)
    base_version = load_base(store, base) if base is not None else None
    base_id = base_version[0] if base_version else None
    with tempfile.TemporaryDirectory(prefix="prodcat-import-") as work:
        x_file, y_file = (
            fetch(
                source,
                Path(work),
                max_bytes=settings.max_file_bytes,
                timeout_s=settings.download_timeout_s,
                s3_endpoint_url=settings.s3_endpoint_url,
                follow_redirects=follow_redirects,
                connect_to=(connect_to or {}).get(source),
            )
            for source in (x_source, y_source)
        )
        if source_labels is not None:
            x_file = replace(x_file, source=source_labels[0])
            y_file = replace(y_file, source=source_labels[1])
        dataset_id = dataset_id_for(x_file.sha256, y_file.sha256, base_id)
        if store.exists(dataset_id):
            logger.info(
                "dataset %s already imported from the same files: nothing to do", dataset_id
            )
            store.set_latest(dataset_id)
            manifest = DatasetManifest.model_validate(store.manifest(dataset_id))
            return ImportResult(dataset_id, False, manifest, store.path(dataset_id))

        x = _validate_x(x_file, _read_csv(x_file, X_COLUMNS, settings, exact_for=base_id), settings)
        y = _read_csv(y_file, Y_COLUMNS, settings, exact_for=base_id)
        codes = _validate_y(y_file, y)
        _check_ids_match(x_file, x, y_file, y)

        rows = x.join(codes.rename("prdtypecode")).sort_index().reset_index()
        rows["description"] = rows["description"].where(rows["description"].str.strip() != "", None)
        appended = None
        synthetic = _is_synthetic(x_file, y_file)
        if base_version is not None:
            _, base_manifest, base_rows = base_version
            rows, appended = append_rows(base_manifest.dataset_id, base_rows, rows)
            synthetic = synthetic or base_manifest.synthetic
            if len(rows) > settings.max_rows:
                raise PayloadTooLargeError(
                    f"{base_manifest.dataset_id} + {x_file.name}: {len(rows)} rows, more than the "
                    f"limit of {settings.max_rows}"
                )
        counts = rows["prdtypecode"].value_counts().sort_index()
        manifest = DatasetManifest(
            dataset_id=dataset_id,
            created_at=datetime.now(UTC),
            synthetic=synthetic,
            n_rows=len(rows),
            class_counts=dict(zip(counts.index.astype(int).tolist(), counts.tolist(), strict=True)),
            empty_descriptions=int(rows["description"].isna().sum()),
            sources=[
                SourceFile(
                    role="x",
                    name=x_file.name,
                    source=x_file.source,
                    sha256=x_file.sha256,
                    bytes=x_file.bytes,
                ),
                SourceFile(
                    role="y",
                    name=y_file.name,
                    source=y_file.source,
                    sha256=y_file.sha256,
                    bytes=y_file.bytes,
                ),
            ],
            appended=appended,
        )

        def build(tmp: Path) -> None:
            rows.to_parquet(tmp / ROWS_FILE, index=False)
            write_json_atomic(tmp / MANIFEST, manifest.model_dump(mode="json"))

        created = store.publish(dataset_id, build)
        store.set_latest(dataset_id)
    return ImportResult(dataset_id, created, manifest, store.path(dataset_id))

"""Batch scoring in shards: a file or a folder of CSV/Parquet files split into deterministic row
ranges, one `part-<index>-of-<count>.parquet` per shard, written atomically.

Every shard works out the same plan from the same inputs (files, their sizes and row counts, the
shard count, the model id); its fingerprint is stored in each part's Parquet metadata. A shard
whose part exists with the plan's fingerprint is skipped, so a Job started again redoes only the
missing shards. The shard that finds every part present writes `manifest.json`, then creates
`_SUCCESS` exclusively (O_EXCL): when two shards finish at once, both may write the (identical)
manifest, and exactly one creates `_SUCCESS`. All input is checked before anything is written, so
bad input (no rows, a missing column, a file that is not CSV/Parquet) leaves no output."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import multiprocessing
import os
import uuid
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from prodcat_core.errors import InvalidInputError
from prodcat_core.model import LoadedModel
from prodcat_predict.batch_inputs import Location, folder_files, kind_of, size_of
from prodcat_predict.batch_log import BatchLog, BatchLogTarget
from prodcat_predict.batch_predict import (
    FORMATS,
    ID_COLUMN,
    TEXT_COLUMNS,
    check_columns,
    predict_frame,
    read_table,
    with_listing_ids,
)

logger = logging.getLogger(__name__)

MANIFEST = "manifest.json"
SUCCESS = "_SUCCESS"
PART_METADATA_KEY = b"prodcat.batch"
ROW_COLUMN = "row"  # the listing's position in the whole input (all files, in name order)


@dataclass(frozen=True)
class InputFile:
    location: Location
    name: str  # relative to the input (what the plan records)
    size: int
    rows: int


@dataclass(frozen=True)
class ShardPlan:
    files: tuple[InputFile, ...]
    count: int
    model_id: str
    model_version: str | None

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.files)

    def describe(self) -> dict[str, Any]:
        return {
            "inputs": [{"file": f.name, "bytes": f.size, "rows": f.rows} for f in self.files],
            "rows": self.rows,
            "shard_count": self.count,
            "model_id": self.model_id,
            "model_version": self.model_version,
        }

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(json.dumps(self.describe(), sort_keys=True).encode()).hexdigest()

    def rows_of(self, index: int) -> tuple[int, int]:
        """Shard `index`'s row range [start, stop): contiguous, sizes differ by at most one."""
        return self.rows * index // self.count, self.rows * (index + 1) // self.count


def part_name(index: int, count: int) -> str:
    return f"part-{index}-of-{count}.parquet"


def check_shard(index: int, count: int) -> None:
    if count < 1:
        raise InvalidInputError(f"--shard-count {count}: must be at least 1")
    if not 0 <= index < count:
        raise InvalidInputError(
            f"--shard-index {index}: must be between 0 and {count - 1} (--shard-count {count})"
        )


def _read_header(location: Location) -> tuple[list[str], int]:
    """A file's columns and row count, without reading a Parquet file's data."""
    suffix = location.suffix
    try:
        if suffix == ".parquet":
            with location.fs.open_input_file(location.path) as f:
                meta = pq.ParquetFile(f).metadata
            return list(meta.schema.to_arrow_schema().names), int(meta.num_rows)
        with location.fs.open_input_stream(location.path) as stream:
            columns = [str(c) for c in pd.read_csv(stream, nrows=0).columns]
        # Rows are counted by parsing (a quoted description may hold newlines), one column kept.
        with location.fs.open_input_stream(location.path) as stream:
            rows = len(pd.read_csv(stream, usecols=[0], dtype=str, keep_default_na=False))
    except pd.errors.EmptyDataError:
        return [], 0
    except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError, pa.ArrowException) as e:
        raise InvalidInputError(f"--input {location}: unreadable {suffix[1:]} file: {e}") from e
    return columns, rows


def list_inputs(source: Location) -> tuple[InputFile, ...]:
    """The input's files (a file, or a folder's files in name order; local or s3://), each
    checked: CSV or Parquet, readable, with a designation column. No rows at all is an error."""
    if kind_of(source) == "folder":
        paths = []
        for p, kind in folder_files(source):
            if kind != pafs.FileType.File or p.suffix not in FORMATS:
                raise InvalidInputError(
                    f"--input {source}: {p.name} is not a .csv or .parquet file "
                    "(a folder holds only listing files)"
                )
            paths.append(p)
    elif source.suffix not in FORMATS:
        raise InvalidInputError(f"--input {source}: expected a .csv or .parquet file or a folder")
    else:
        paths = [source]
    files = []
    for path in paths:
        columns, rows = _read_header(path)
        if rows:
            check_columns(columns, f"--input {path}")
        files.append(InputFile(path, path.name, size_of(path), rows))
    if not any(f.rows for f in files):
        raise InvalidInputError(f"--input {source}: no listings (no file with rows)")
    return tuple(files)


def read_rows(plan: ShardPlan, start: int, stop: int) -> pd.DataFrame:
    """Rows [start, stop) of the whole input, with `row` (position in the input) and `id` (the
    listing id column, or the row when the files carry none)."""
    frames = []
    offset = 0
    for f in plan.files:
        lo, hi = max(start, offset), min(stop, offset + f.rows)
        if lo < hi:
            rows = with_listing_ids(read_table(f.location)).iloc[lo - offset : hi - offset]
            ids = rows[ID_COLUMN].tolist() if ID_COLUMN in rows.columns else range(lo, hi)
            frame = pd.DataFrame({ID_COLUMN: ids, ROW_COLUMN: range(lo, hi)})
            for column in TEXT_COLUMNS:
                if column in rows.columns:
                    frame[column] = rows[column].to_numpy()
            frames.append(frame)
        offset += f.rows
    return pd.concat(frames, ignore_index=True)


def _part_metadata(path: Path) -> dict[str, Any] | None:
    try:
        meta = pq.read_schema(path).metadata or {}
        found = json.loads(meta[PART_METADATA_KEY])
    except (OSError, KeyError, ValueError, pa.ArrowException):
        return None  # absent, half-written by another writer or not ours: it is redone
    return found if isinstance(found, dict) else None


def part_matches(plan: ShardPlan, output: Path, index: int) -> bool:
    found = _part_metadata(output / part_name(index, plan.count))
    return found is not None and found.get("fingerprint") == plan.fingerprint


def check_output(plan: ShardPlan, output: Path) -> bool:
    """True when the output holds this plan's finished result already; an output that holds
    another batch's finished result is refused (nothing in it is overwritten)."""
    if not (output / SUCCESS).exists():
        return False
    try:
        manifest = json.loads((output / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        manifest = {}
    if manifest.get("fingerprint") == plan.fingerprint:
        return True
    raise InvalidInputError(
        f"--output {output}: holds the finished result of another batch (other inputs, model or "
        "shard count); choose an empty folder"
    )


def _write_atomically(table: pa.Table, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        pq.write_table(table, tmp)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def write_part(frame: pd.DataFrame, plan: ShardPlan, output: Path, index: int) -> Path:
    start, stop = plan.rows_of(index)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    described = {
        "fingerprint": plan.fingerprint,
        "index": index,
        "count": plan.count,
        "start": start,
        "stop": stop,
        "model_id": plan.model_id,
    }
    table = table.replace_schema_metadata(
        {**(table.schema.metadata or {}), PART_METADATA_KEY: json.dumps(described).encode()}
    )
    path = output / part_name(index, plan.count)
    _write_atomically(table, path)
    return path


def finish(plan: ShardPlan, output: Path) -> bool:
    """When every part of the plan is present: the manifest, then `_SUCCESS`, created by exactly
    one caller (True for that one)."""
    if not all(part_matches(plan, output, i) for i in range(plan.count)):
        return False
    manifest = {
        "fingerprint": plan.fingerprint,
        **plan.describe(),
        "parts": [
            {
                "file": part_name(i, plan.count),
                "start": plan.rows_of(i)[0],
                "stop": plan.rows_of(i)[1],
                "rows": plan.rows_of(i)[1] - plan.rows_of(i)[0],
            }
            for i in range(plan.count)
        ],
    }
    tmp = output / f".{MANIFEST}.{uuid.uuid4().hex}.tmp"
    try:
        tmp.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        tmp.replace(output / MANIFEST)
    finally:
        tmp.unlink(missing_ok=True)
    try:
        fd = os.open(output / SUCCESS, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    os.close(fd)
    return True


@dataclass(frozen=True)
class ShardOutcome:
    index: int
    state: Literal["written", "skipped", "complete"]
    rows: int
    empty: int = 0
    truncated: int = 0
    finished: bool = False  # this shard wrote _SUCCESS
    logged: int = 0  # inference log records written


@dataclass(frozen=True)
class Scoring:
    """How every shard scores (picklable: the processes of run_all_shards get it)."""

    max_chars: int
    chunk_rows: int
    top_k: int
    log: BatchLogTarget | None = None  # also append the answers to this inference log


def run_shard(
    plan: ShardPlan, index: int, output: Path, loaded: LoadedModel, scoring: Scoring
) -> ShardOutcome:
    """Scores shard `index` unless its part is there already, then tries to finish the batch.
    With a log, a scored shard's answers go to the inference log before its part is written (a
    shard redone after a crash logs its rows again; a skipped one logs nothing)."""
    check_shard(index, plan.count)
    start, stop = plan.rows_of(index)
    if check_output(plan, output):
        return ShardOutcome(index, "complete", stop - start)
    output.mkdir(parents=True, exist_ok=True)
    # A run killed mid-write leaves its temporary file: this shard's own are removed.
    for stale in output.glob(f".{part_name(index, plan.count)}.*.tmp"):
        stale.unlink(missing_ok=True)
    if part_matches(plan, output, index):
        logger.info("shard %d/%d: part exists, skipped", index, plan.count)
        outcome = ShardOutcome(index, "skipped", stop - start)
    else:
        logger.info("shard %d/%d: scoring rows %d to %d", index, plan.count, start, stop - 1)
        frame = read_rows(plan, start, stop)
        sink = None if scoring.log is None else BatchLog(scoring.log, loaded)
        out, summary = predict_frame(
            frame,
            loaded,
            max_chars=scoring.max_chars,
            chunk_rows=scoring.chunk_rows,
            top_k=scoring.top_k,
            sink=sink,
        )
        logged = 0 if sink is None else sink.close()
        out["model_id"] = plan.model_id
        out["model_version"] = pd.array([plan.model_version] * len(out), dtype="string")
        write_part(out, plan, output, index)
        outcome = ShardOutcome(
            index, "written", len(out), summary.empty, summary.truncated, logged=logged
        )
    return dataclasses.replace(outcome, finished=finish(plan, output))


def _score_shard(
    plan: ShardPlan, index: int, output: Path, artifact: Path, scoring: Scoring
) -> ShardOutcome:
    """One shard in a process of its own (run_all_shards): loads the model, scores the shard."""
    from prodcat_core.model import load_model

    loaded = load_model(artifact, intra_op_threads=1)
    return run_shard(plan, index, output, loaded, scoring)


def run_all_shards(
    plan: ShardPlan, output: Path, artifact: Path, scoring: Scoring, *, processes: int
) -> list[ShardOutcome]:
    """Every shard of the plan on this machine, `processes` at a time (what an Indexed Job does
    with pods): the local runner's way to run a batch."""
    context = multiprocessing.get_context("spawn")  # no fork of a process holding threads
    with ProcessPoolExecutor(max_workers=max(1, processes), mp_context=context) as pool:
        futures = [
            pool.submit(_score_shard, plan, i, output, artifact, scoring) for i in range(plan.count)
        ]
        return [f.result() for f in futures]


def describe_shard(shard: ShardOutcome, plan: ShardPlan, output: Path) -> str:
    """The CLI's line about one shard."""
    where = output / part_name(shard.index, plan.count)
    head = f"shard {shard.index}/{plan.count}"
    if shard.state == "complete":
        return f"{head}: the batch is complete already -> {output}"
    if shard.state == "skipped":
        return f"{head}: {where.name} exists for this batch, skipped"
    logged = f"; inference log: {shard.logged:,} records" if shard.logged else ""
    return (
        f"{head}: predicted {shard.rows:,} listings with {plan.model_id} "
        f"({shard.empty} without text, {shard.truncated} truncated) -> {where}{logged}"
    )

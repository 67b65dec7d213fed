"""The inference log: one row per answered listing, in append-only, time-partitioned Parquet.

    <root>/<YYYY-MM-DD>/<HH>/part-<writer id>-<seq>.parquet      (UTC date and hour of the answer)

The root is a URI: a local folder (the default) or anything pyarrow's filesystems open (`s3://
bucket/prefix?endpoint_override=...`). Files appear whole: a local file is written under a `.tmp-`
name and renamed, an object store publishes an object when its upload completes; readers skip
names starting with ".", so a writer killed mid-file leaves nothing a reader sees.

`InferenceLogWriter` is one background thread per process behind a bounded queue. The request path
only calls `submit`, which never blocks: when the queue is full (a slow or full sink) the record is
dropped and counted, and the answer goes out as if nothing happened. The queue is a deque (an
append takes no lock and wakes no one) that the thread drains in bulk a few times a second, so
the writer competes with the event loop for the GIL a few times a second rather than once per
answer. The thread writes a file when its buffer reaches `rotate_bytes` or its oldest record is
`rotate_seconds` old, and `close` writes what is still queued (the predictor calls it on
SIGTERM)."""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from prodcat_core.errors import InvalidInputError
from prodcat_core.text import FIELD_SEPARATOR

logger = logging.getLogger(__name__)

SOURCES: tuple[str, ...] = ("predictor", "batch")

INFERENCE_LOG_SCHEMA = pa.schema(
    [
        pa.field("ts", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("request_id", pa.string(), nullable=False),
        pa.field("listing_id", pa.string(), nullable=False),
        pa.field("model_name", pa.string(), nullable=False),
        pa.field("model_version", pa.string(), nullable=False),
        pa.field("model_alias", pa.string()),
        pa.field("model_id", pa.string()),
        pa.field("source", pa.string(), nullable=False),
        pa.field("text", pa.string()),
        pa.field("text_sha256", pa.string(), nullable=False),
        pa.field("text_chars", pa.int32(), nullable=False),
        pa.field("description_empty", pa.bool_(), nullable=False),
        pa.field("truncated", pa.bool_(), nullable=False),
        pa.field("prdtypecode", pa.int32(), nullable=False),
        pa.field("confidence", pa.float32(), nullable=False),
        pa.field("topk_codes", pa.list_(pa.int32())),
        pa.field("topk_probs", pa.list_(pa.float32())),
        pa.field("latency_ms", pa.float32(), nullable=False),
    ]
)

DROP_REASONS: tuple[str, ...] = ("queue_full", "write_error")


def text_sha256(text: str) -> str:
    """The listing's key when its text is not kept: sha256 hex of the text the model saw."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def description_empty(text: str) -> bool:
    """Whether a `listing_text` result has no description part (only its title line)."""
    return FIELD_SEPARATOR not in text


def new_listing_id() -> str:
    """The id every answer carries for its listing (feedback labels name listings by it)."""
    return uuid.uuid4().hex


@dataclass(frozen=True, slots=True)
class ModelIdentity:
    """Which model answered; the same for every record of one loaded model."""

    name: str
    version: str
    alias: str | None = None
    model_id: str | None = None


@dataclass(frozen=True, slots=True)
class InferenceRecord:
    """One answered listing, as the request path hands it over. The writer thread derives the
    hash, length and empty-description columns, so the request path does no extra work."""

    ts: datetime
    request_id: str
    listing_id: str
    model: ModelIdentity
    text: str
    truncated: bool
    prdtypecode: int
    confidence: float
    topk_codes: tuple[int, ...]
    topk_probs: tuple[float, ...]
    latency_ms: float
    source: str = "predictor"


class InferenceLogObserver(Protocol):
    """Where the writer reports what it did (the predictor turns this into Prometheus metrics)."""

    def written(self, records: int) -> None: ...

    def dropped(self, reason: str, records: int) -> None: ...

    def flushed(self, timestamp: float) -> None: ...


class _Counts:
    """The observer used when none is given; also what `InferenceLogWriter.stats` reads."""

    def __init__(self) -> None:
        self.records_written = 0
        self.dropped = dict.fromkeys(DROP_REASONS, 0)
        self.last_flush: float | None = None


def _filesystem(uri: str) -> tuple[pafs.FileSystem, str, bool]:
    """(filesystem, root path inside it, whether it is local). A plain path is a local folder."""
    if not uri:
        raise InvalidInputError("the inference log URI is empty")
    if "://" not in uri or uri.startswith("file://"):
        local = Path(uri.removeprefix("file://")).resolve()
        return pafs.LocalFileSystem(), local.as_posix(), True
    try:
        fs, path = pafs.FileSystem.from_uri(uri)
    except (pa.ArrowException, ValueError) as e:
        raise InvalidInputError(f"inference log URI {uri!r}: {e}") from e
    return fs, path.rstrip("/"), False


def records_table(records: Sequence[InferenceRecord], keep_text: bool) -> pa.Table:
    """Records -> a table of INFERENCE_LOG_SCHEMA (text null when `keep_text` is off)."""
    texts = [r.text for r in records]
    columns = {
        "ts": [r.ts for r in records],
        "request_id": [r.request_id for r in records],
        "listing_id": [r.listing_id for r in records],
        "model_name": [r.model.name for r in records],
        "model_version": [r.model.version for r in records],
        "model_alias": [r.model.alias for r in records],
        "model_id": [r.model.model_id for r in records],
        "source": [r.source for r in records],
        "text": texts if keep_text else [None] * len(records),
        "text_sha256": [text_sha256(t) for t in texts],
        "text_chars": [len(t) for t in texts],
        "description_empty": [description_empty(t) for t in texts],
        "truncated": [r.truncated for r in records],
        "prdtypecode": [r.prdtypecode for r in records],
        "confidence": [r.confidence for r in records],
        "topk_codes": [list(r.topk_codes) for r in records],
        "topk_probs": [list(r.topk_probs) for r in records],
        "latency_ms": [r.latency_ms for r in records],
    }
    return pa.Table.from_pydict(columns, schema=INFERENCE_LOG_SCHEMA)


def _partition(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%d/%H")


# A record's text plus its fixed-size columns: what `rotate_bytes` counts against.
_RECORD_OVERHEAD_BYTES = 200
# Longest the writer thread sleeps between drains of the queue.
_DRAIN_INTERVAL_S = 0.5


class InferenceLogWriter:
    """One process's writer: a bounded queue and one background thread writing Parquet files."""

    def __init__(
        self,
        uri: str,
        *,
        keep_text: bool = True,
        queue_size: int = 10_000,
        rotate_bytes: int = 64 * 1024 * 1024,
        rotate_seconds: float = 60.0,
        writer_id: str | None = None,
        observer: InferenceLogObserver | None = None,
    ) -> None:
        if queue_size < 1 or rotate_bytes < 1 or rotate_seconds <= 0:
            raise InvalidInputError(
                "inference log: queue size, rotate bytes and rotate seconds must be positive"
            )
        self.uri = uri
        self._fs, self._root, self._local = _filesystem(uri)
        self.keep_text = keep_text
        self.rotate_bytes = rotate_bytes
        self.rotate_seconds = rotate_seconds
        # Unique per process and start, so a restarted worker never overwrites its old files.
        self.writer_id = writer_id or f"{os.getpid()}{uuid.uuid4().hex[:8]}"
        self.queue_size = queue_size
        self._pending: deque[InferenceRecord] = deque()
        self._counts = _Counts()
        self._observer = observer
        self._seq = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"inference-log-{self.writer_id}", daemon=True
        )

    # -- request path ---------------------------------------------------------------------------

    def submit(self, record: InferenceRecord) -> bool:
        """Queues a record without ever waiting; False (and counted) when it was dropped."""
        # len + append is not one atomic step: with several request threads the bound may be
        # passed by a few records, never by more than the threads appending at that moment.
        if len(self._pending) >= self.queue_size:
            self._drop("queue_full", 1)
            return False
        self._pending.append(record)
        return True

    def queue_depth(self) -> int:
        return len(self._pending)

    @property
    def stats(self) -> _Counts:
        return self._counts

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> InferenceLogWriter:
        self._thread.start()
        logger.info(
            "inference log on: %s (writer %s, text %s, queue %d)",
            self.uri,
            self.writer_id,
            "kept" if self.keep_text else "hashed",
            self.queue_size,
        )
        return self

    def write(self, records: Sequence[InferenceRecord]) -> None:
        """Writes records now, in the caller's thread (a batch job, which may wait for its
        log: nothing is dropped for a full queue; a failed file is still counted)."""
        if records:
            self._write(list(records))

    def close(self, timeout: float = 30.0) -> None:
        """Writes everything queued, then stops the thread (waits at most `timeout` seconds)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
            if self._thread.is_alive():
                logger.warning("inference log: still writing after %.0f s at shutdown", timeout)

    def __enter__(self) -> InferenceLogWriter:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writer thread --------------------------------------------------------------------------

    def _run(self) -> None:
        buffer: list[InferenceRecord] = []
        buffered_bytes = 0
        oldest = 0.0
        interval = min(_DRAIN_INTERVAL_S, self.rotate_seconds / 2)
        while True:
            stopping = self._stop.wait(interval)
            if self._pending and not buffer:
                oldest = time.monotonic()
            while self._pending:
                record = self._pending.popleft()
                buffer.append(record)
                buffered_bytes += len(record.text) + _RECORD_OVERHEAD_BYTES
                if buffered_bytes >= self.rotate_bytes:
                    self._write(buffer)
                    buffer, buffered_bytes, oldest = [], 0, time.monotonic()
            if buffer and (stopping or time.monotonic() - oldest >= self.rotate_seconds):
                self._write(buffer)
                buffer, buffered_bytes = [], 0
            if stopping:
                return

    def _write(self, records: list[InferenceRecord]) -> None:
        groups: dict[str, list[InferenceRecord]] = {}
        for record in records:
            groups.setdefault(_partition(record.ts), []).append(record)
        for partition, group in sorted(groups.items()):
            try:
                self._write_file(partition, group)
            except Exception:  # a thread boundary: a failed file is counted, the thread lives on
                logger.exception(
                    "inference log: could not write %d records to %s/%s",
                    len(group),
                    self.uri,
                    partition,
                )
                self._drop("write_error", len(group))
                continue
            self._counts.records_written += len(group)
            if self._observer is not None:
                self._observer.written(len(group))
        now = time.time()
        self._counts.last_flush = now
        if self._observer is not None:
            self._observer.flushed(now)

    def _write_file(self, partition: str, records: list[InferenceRecord]) -> None:
        table = records_table(records, self.keep_text)
        folder = f"{self._root}/{partition}"
        name = f"part-{self.writer_id}-{self._seq:06d}.parquet"
        self._seq += 1
        if not self._local:
            # An object store publishes the object whole when the upload completes.
            self._fs.create_dir(folder, recursive=True)
            pq.write_table(table, f"{folder}/{name}", filesystem=self._fs)
            return
        Path(folder).mkdir(parents=True, exist_ok=True)
        tmp = Path(folder) / f".tmp-{name}"
        try:
            pq.write_table(table, tmp)
            tmp.rename(Path(folder) / name)
        finally:
            tmp.unlink(missing_ok=True)

    def _drop(self, reason: str, records: int) -> None:
        self._counts.dropped[reason] += records
        if self._observer is not None:
            self._observer.dropped(reason, records)


# -- reading ----------------------------------------------------------------------------------


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _hour_overlaps(partition: str, start: datetime | None, end: datetime | None) -> bool:
    try:
        hour = datetime.strptime(partition, "%Y-%m-%d/%H").replace(tzinfo=UTC)
    except ValueError:
        return False
    return (start is None or hour + timedelta(hours=1) > start) and (end is None or hour < end)


def list_log_files(
    uri: str, start: datetime | None = None, end: datetime | None = None
) -> list[str]:
    """The log's whole files (paths inside its filesystem) whose hour overlaps [start, end)."""
    fs, root, _ = _filesystem(uri)
    start, end = _utc(start), _utc(end)
    info = fs.get_file_info(root)
    if info.type == pafs.FileType.NotFound:
        return []
    files = []
    for entry in fs.get_file_info(pafs.FileSelector(root, recursive=True)):
        if entry.type != pafs.FileType.File:
            continue
        relative = entry.path[len(root) :].strip("/").split("/")
        if len(relative) != 3 or not relative[2].startswith("part-"):
            continue
        if not relative[2].endswith(".parquet"):
            continue
        if _hour_overlaps(f"{relative[0]}/{relative[1]}", start, end):
            files.append(entry.path)
    return sorted(files)


def read_inference_log(
    uri: str,
    start: datetime | None = None,
    end: datetime | None = None,
    model_version: str | None = None,
    columns: Iterable[str] | None = None,
) -> pa.Table:
    """The log's rows with start <= ts < end (either open) for one model version (or all),
    only the given columns (all by default). An empty table when there is nothing."""
    names = list(columns) if columns is not None else INFERENCE_LOG_SCHEMA.names
    unknown = [n for n in names if n not in INFERENCE_LOG_SCHEMA.names]
    if unknown:
        raise InvalidInputError(f"inference log has no column(s) {', '.join(unknown)}")
    start, end = _utc(start), _utc(end)
    fs, _, _ = _filesystem(uri)
    files = list_log_files(uri, start, end)
    if not files:
        return pa.schema([INFERENCE_LOG_SCHEMA.field(n) for n in names]).empty_table()
    dataset = ds.dataset(files, schema=INFERENCE_LOG_SCHEMA, format="parquet", filesystem=fs)
    condition: ds.Expression | None = None
    clauses = []
    if start is not None:
        clauses.append(pc.field("ts") >= pa.scalar(start, INFERENCE_LOG_SCHEMA.field("ts").type))
    if end is not None:
        clauses.append(pc.field("ts") < pa.scalar(end, INFERENCE_LOG_SCHEMA.field("ts").type))
    if model_version is not None:
        clauses.append(pc.field("model_version") == model_version)
    for clause in clauses:
        condition = clause if condition is None else condition & clause
    return dataset.to_table(columns=names, filter=condition)

"""Receiving the challenge's two files as a multipart upload, streamed to disk.

The body is parsed as it arrives (never held in memory, never spooled to /tmp): each file goes to
a private folder under the uploads directory, on the same file system as the store, and counts
against the size limit while it is written. Past the limit the answer is 413; whatever the outcome,
the caller removes the folder, so nothing is left behind."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from prodcat_core.datasets import X_FILENAME, Y_FILENAME
from prodcat_core.errors import InvalidInputError, PayloadTooLargeError
from prodcat_data.api.errors import UnsupportedMediaTypeError

FIELDS = {"x": X_FILENAME, "y": Y_FILENAME}
CSV_TYPES = frozenset(
    {
        "text/csv",
        "application/csv",
        "text/x-csv",
        "text/comma-separated-values",
        "application/vnd.ms-excel",  # what some browsers call a .csv
        "text/plain",
        "application/octet-stream",  # curl -F and most clients when they do not know
    }
)
# Multipart framing (boundaries, part headers) on top of the two files.
OVERHEAD_BYTES = 64 * 1024
# After a 413, read on (and discard) this much so the client sees the answer, not a reset.
DRAIN_BYTES = 8 * 1024 * 1024
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def safe_filename(raw: str | None, default: str) -> str:
    """A client's file name reduced to a harmless base name (never a path)."""
    if not raw:
        return default
    base = re.split(r"[\\/]", raw)[-1]
    name = _UNSAFE.sub("_", base).lstrip(".")[:128]
    return name or default


@dataclass
class _Part:
    name: str = ""
    filename: str | None = None
    content_type: str | None = None
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    handle: IO[bytes] | None = None
    size: int = 0


@dataclass(frozen=True)
class UploadedFile:
    field: str
    path: Path
    bytes: int


class _Receiver:
    def __init__(self, folder: Path, max_file_bytes: int) -> None:
        self.folder = folder
        self.max_file_bytes = max_file_bytes
        self.part = _Part()
        self.header_name = b""
        self.header_value = b""
        self.files: dict[str, UploadedFile] = {}

    def on_part_begin(self) -> None:
        self.part = _Part()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def on_header_end(self) -> None:
        self.part.headers.append((self.header_name.lower(), self.header_value))
        self.header_name = b""
        self.header_value = b""

    def on_headers_finished(self) -> None:
        headers = dict(self.part.headers)
        _, options = parse_options_header(headers.get(b"content-disposition", b""))
        name = options.get(b"name", b"").decode("utf-8", errors="replace")
        if name not in FIELDS:
            shown = name[:40] or "(no name)"
            raise InvalidInputError(
                f"upload field {shown!r} is not expected; send the two files as fields x and y"
            )
        if name in self.files:
            raise InvalidInputError(f"upload field {name!r} is sent twice")
        raw_type = headers.get(b"content-type")
        if raw_type is not None:
            media = parse_options_header(raw_type)[0].decode("latin-1").lower()
            if media not in CSV_TYPES:
                raise UnsupportedMediaTypeError(
                    f"upload field {name!r}: content type {media!r} is not CSV (send text/csv)"
                )
        filename = options.get(b"filename")
        self.part.name = name
        self.part.filename = safe_filename(
            filename.decode("utf-8", errors="replace") if filename else None, FIELDS[name]
        )
        target = self.folder / name
        target.mkdir()
        self.part.handle = (target / self.part.filename).open("wb")

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        part = self.part
        if part.handle is None:  # pragma: no cover - headers always come first
            raise InvalidInputError("malformed multipart body: data before headers")
        part.size += end - start
        if part.size > self.max_file_bytes:
            raise PayloadTooLargeError(
                f"upload field {part.name!r}: larger than the limit of {self.max_file_bytes} bytes"
            )
        part.handle.write(data[start:end])

    def on_part_end(self) -> None:
        part = self.part
        if part.handle is None:  # pragma: no cover
            return
        part.handle.close()
        self.files[part.name] = UploadedFile(part.name, Path(part.handle.name), part.size)
        part.handle = None

    def close(self) -> None:
        if self.part.handle is not None:
            self.part.handle.close()


def check_multipart(
    content_type: str | None, content_length: str | None, max_file_bytes: int
) -> bytes:
    """The boundary of an acceptable upload request, checked before the body is read."""
    media, options = parse_options_header(content_type or "")
    if media.lower() != b"multipart/form-data":
        shown = media.decode("latin-1") or "none"
        raise UnsupportedMediaTypeError(
            f"content type {shown!r}: upload the two files as multipart/form-data fields x and y "
            "(or import them from URLs with POST /datasets/import)"
        )
    boundary = options.get(b"boundary")
    if not boundary:
        raise InvalidInputError("multipart/form-data without a boundary")
    limit = 2 * max_file_bytes + OVERHEAD_BYTES
    if content_length and content_length.isdigit() and int(content_length) > limit:
        raise PayloadTooLargeError(
            f"upload of {int(content_length)} bytes: larger than the limit of {max_file_bytes} "
            "bytes per file"
        )
    return boundary


async def receive_upload(
    stream: AsyncIterator[bytes], boundary: bytes, folder: Path, max_file_bytes: int
) -> dict[str, UploadedFile]:
    """Writes the fields x and y under `folder`; raises (413, 415, 400) on a bad upload."""
    receiver = _Receiver(folder, max_file_bytes)
    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": receiver.on_part_begin,
            "on_part_data": receiver.on_part_data,
            "on_part_end": receiver.on_part_end,
            "on_header_field": receiver.on_header_field,
            "on_header_value": receiver.on_header_value,
            "on_header_end": receiver.on_header_end,
            "on_headers_finished": receiver.on_headers_finished,
        },
    )
    failure: Exception | None = None
    drained = 0
    try:
        async for chunk in stream:
            if failure is not None:
                drained += len(chunk)
                if drained > DRAIN_BYTES:
                    break
                continue
            try:
                parser.write(chunk)
            except MultipartParseError as e:
                failure = InvalidInputError(f"malformed multipart body: {e}")
            except InvalidInputError as e:
                failure = e
        if failure is None:
            parser.finalize()
    finally:
        receiver.close()
    if failure is not None:
        raise failure
    missing = [name for name in FIELDS if name not in receiver.files]
    if missing:
        raise InvalidInputError(
            f"upload is missing file field(s) {', '.join(missing)}; send X as x and Y as y"
        )
    return receiver.files

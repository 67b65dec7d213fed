"""Where `prodcat predict batch` reads its listings: a local path, or `s3://bucket/key` (one file,
or a prefix holding files) through pyarrow's S3 filesystem, which the pyarrow wheel already
carries (no extra package). The endpoint is PREDICT_S3_ENDPOINT_URL (an S3-compatible server, as
DATA_S3_ENDPOINT_URL is for the data member) or the URI's own `?endpoint_override=host:port&
scheme=http`, as for the inference log; credentials come from the usual AWS variables."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal
from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.fs as pafs

from prodcat_core.errors import InvalidInputError, NotFoundError


@dataclass(frozen=True)
class Location:
    """A file or folder of the input (picklable: shard processes read through it)."""

    fs: pafs.FileSystem
    path: str  # inside `fs`
    uri: str  # as the user wrote it: what messages name

    @property
    def name(self) -> str:
        return PurePosixPath(self.path).name

    @property
    def suffix(self) -> str:
        return PurePosixPath(self.path).suffix.lower()

    def child(self, name: str) -> Location:
        return Location(self.fs, f"{self.path}/{name}", f"{self.uri.rstrip('/')}/{name}")

    def __str__(self) -> str:
        return self.uri


def _s3(uri: str, endpoint_url: str | None) -> tuple[pafs.FileSystem, str]:
    parsed = urlparse(uri)
    if not parsed.netloc:
        raise InvalidInputError(f"--input {uri}: an s3:// input names a bucket (s3://bucket/key)")
    if endpoint_url and not parsed.query:
        endpoint = urlparse(endpoint_url)
        fs = pafs.S3FileSystem(
            endpoint_override=endpoint.netloc or endpoint.path, scheme=endpoint.scheme or "https"
        )
        return fs, f"{parsed.netloc}{parsed.path}".rstrip("/")
    fs, path = pafs.FileSystem.from_uri(uri)
    return fs, path.rstrip("/")


def locate(uri: str, s3_endpoint_url: str | None = None) -> Location:
    """The input as given on the command line: a local path or an s3:// URI."""
    scheme = urlparse(uri).scheme.lower()
    if scheme not in ("", "file", "s3"):
        raise InvalidInputError(f"--input {uri}: unsupported input (use a path or s3://)")
    if scheme != "s3":
        local = Path(uri.removeprefix("file://")).resolve()
        return Location(pafs.LocalFileSystem(), local.as_posix(), uri)
    try:
        fs, path = _s3(uri, s3_endpoint_url)
    except (pa.ArrowException, OSError, ValueError) as e:
        raise InvalidInputError(f"--input {uri}: {e}") from e
    return Location(fs, path, uri.split("?", 1)[0])


def kind_of(location: Location) -> Literal["file", "folder"]:
    """Whether the input is a file or a folder (an S3 prefix with objects under it)."""
    try:
        info = location.fs.get_file_info(location.path)
    except (pa.ArrowException, OSError) as e:
        raise InvalidInputError(f"--input {location}: cannot be read: {e}") from e
    if info.type == pafs.FileType.NotFound:
        raise NotFoundError(f"--input {location}: no such file or folder")
    return "folder" if info.type == pafs.FileType.Directory else "file"


def folder_files(location: Location) -> list[tuple[Location, pafs.FileType]]:
    """A folder's entries in name order (not recursive), hidden ones (".", "_") left out."""
    try:
        found = location.fs.get_file_info(pafs.FileSelector(location.path))
    except (pa.ArrowException, OSError) as e:
        raise InvalidInputError(f"--input {location}: cannot be listed: {e}") from e
    entries = [(location.child(PurePosixPath(i.path).name), i.type) for i in found]
    return sorted(
        (e for e in entries if not e[0].name.startswith((".", "_"))), key=lambda e: e[0].name
    )


def size_of(location: Location) -> int:
    return int(location.fs.get_file_info(location.path).size or 0)

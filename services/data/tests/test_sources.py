"""Sources: local paths, file:// and http(s) URLs become local files with a known hash and size,
never bigger than the limit."""

from __future__ import annotations

import hashlib
import importlib.util
import re
import socket
from pathlib import Path
from urllib.parse import urlparse

import pytest

from prodcat_core.errors import InvalidInputError, NotFoundError, PayloadTooLargeError
from prodcat_data.sources import fetch, hash_file, public_address

CONTENT = b",prdtypecode\r\n1000,10\r\n1001,2583\r\n" * 50
SHA = hashlib.sha256(CONTENT).hexdigest()


@pytest.fixture
def local(tmp_path: Path) -> Path:
    path = tmp_path / "files" / "Y_train_CVw08PX.csv"
    path.parent.mkdir()
    path.write_bytes(CONTENT)
    return path


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    folder = tmp_path / "work"
    folder.mkdir()
    return folder


def test_hash_file(local: Path) -> None:
    assert hash_file(local, len(CONTENT)) == (SHA, len(CONTENT))
    with pytest.raises(PayloadTooLargeError, match=f"larger than the limit of {len(CONTENT) - 1}"):
        hash_file(local, len(CONTENT) - 1)


@pytest.mark.parametrize("form", ["path", "file-url"])
def test_local_file(local: Path, workdir: Path, form: str) -> None:
    source = str(local) if form == "path" else f"file://{local}"
    file = fetch(source, workdir, max_bytes=len(CONTENT))
    assert file.path == local  # read in place, not copied
    assert file.name == "Y_train_CVw08PX.csv"
    assert file.source == str(local)
    assert (file.sha256, file.bytes) == (SHA, len(CONTENT))
    assert list(workdir.iterdir()) == []


def test_local_file_over_the_limit(local: Path, workdir: Path) -> None:
    with pytest.raises(PayloadTooLargeError) as info:
        fetch(str(local), workdir, max_bytes=len(CONTENT) - 1)
    assert info.value.message.startswith("Y_train_CVw08PX.csv: larger than the limit")


@pytest.mark.parametrize("suffix", ["absent.csv", ""])
def test_local_file_not_found(tmp_path: Path, workdir: Path, suffix: str) -> None:
    source = str(tmp_path / suffix) if suffix else str(tmp_path)  # a folder is not a file
    with pytest.raises(NotFoundError, match="no such file") as info:
        fetch(source, workdir, max_bytes=100)
    assert info.value.message.startswith(source)


@pytest.mark.parametrize(
    "source", ["ftp://example.com/X.csv", "sftp://host/X.csv", "data:text/csv,a", "hdfs://x/y.csv"]
)
def test_unsupported_scheme(workdir: Path, source: str) -> None:
    with pytest.raises(InvalidInputError, match="unsupported source") as info:
        fetch(source, workdir, max_bytes=100)
    assert info.value.message.startswith(source)


@pytest.mark.skipif(
    importlib.util.find_spec("boto3") is not None, reason="boto3 is installed: s3:// is supported"
)
def test_s3_without_boto3(workdir: Path) -> None:
    with pytest.raises(InvalidInputError, match="need boto3"):
        fetch("s3://bucket/X_train_update.csv", workdir, max_bytes=100)


def test_http_download(http_url: str, http_root: Path, workdir: Path) -> None:
    (http_root / "Y_train_CVw08PX.csv").write_bytes(CONTENT)
    url = f"{http_url}/Y_train_CVw08PX.csv"
    file = fetch(url, workdir, max_bytes=len(CONTENT))
    assert file.path.parent == workdir
    assert file.path.read_bytes() == CONTENT
    assert (file.name, file.source, file.sha256, file.bytes) == (
        "Y_train_CVw08PX.csv",
        url,
        SHA,
        len(CONTENT),
    )


def test_http_download_without_a_file_name(http_url: str, http_root: Path, workdir: Path) -> None:
    (http_root / "index.html").write_bytes(CONTENT)
    file = fetch(f"{http_url}/", workdir, max_bytes=len(CONTENT))
    assert file.name == "download.csv"
    assert file.sha256 == SHA


@pytest.mark.parametrize("route", ["", "/stream"], ids=["content-length", "no-content-length"])
def test_http_download_over_the_limit(
    http_url: str, http_root: Path, workdir: Path, route: str
) -> None:
    (http_root / "big.csv").write_bytes(CONTENT)
    with pytest.raises(PayloadTooLargeError, match=r"big\.csv: larger than the limit of 100 bytes"):
        fetch(f"{http_url}{route}/big.csv", workdir, max_bytes=100)
    assert list(workdir.iterdir()) == []  # no partial download left


def test_http_not_found(http_url: str, workdir: Path) -> None:
    with pytest.raises(NotFoundError, match="not found \\(HTTP 404\\)"):
        fetch(f"{http_url}/absent.csv", workdir, max_bytes=100)
    assert list(workdir.iterdir()) == []


def test_http_timeout(http_url: str, workdir: Path) -> None:
    """A server that accepts but never answers: refused after the timeout, nothing left.
    (`http_url` clears proxy settings; its own server is not used.)"""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/X.csv"
        with pytest.raises(InvalidInputError, match="download failed") as info:
            fetch(url, workdir, max_bytes=100, timeout_s=0.3)
    assert info.value.message.startswith(url)
    assert list(workdir.iterdir()) == []


# A name no resolver answers (RFC 6761): reaching the server proves no second lookup happened.
UNRESOLVABLE = "files.rebind.invalid"


def test_a_vetted_download_connects_to_the_checked_address_and_keeps_the_host(
    http_url: str, workdir: Path
) -> None:
    port = urlparse(http_url).port
    url = f"http://{UNRESOLVABLE}:{port}/host/Y_train_CVw08PX.csv"
    file = fetch(url, workdir, max_bytes=1000, follow_redirects=False, connect_to="127.0.0.1")
    assert file.path.read_bytes() == f"{UNRESOLVABLE}:{port}".encode()  # the server's own name
    assert (file.name, file.source) == ("Y_train_CVw08PX.csv", url)
    with pytest.raises(InvalidInputError, match="download failed"):
        fetch(url, workdir, max_bytes=1000)  # resolving the name again finds nothing


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://127.0.0.1:8080/x.csv", "private or local address (127.0.0.1)"),
        ("https://localhost/x.csv", "private or local address"),
        ("http://169.254.169.254/latest/meta-data", "private or local address"),
        ("http://[::1]/x.csv", "private or local address (::1)"),
        (f"https://{UNRESOLVABLE}/x.csv", "cannot resolve host"),
    ],
)
def test_only_public_addresses_are_vetted(url: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=re.escape(message)) as info:
        public_address(url, "x_url")
    assert info.value.message.startswith("x_url: ")


def test_a_public_address_is_returned_as_checked() -> None:
    assert public_address("http://8.8.8.8/x.csv", "x_url") == "8.8.8.8"

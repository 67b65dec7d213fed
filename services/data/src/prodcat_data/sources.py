"""Where input files come from: a local path, an http(s) URL or, when boto3 is installed, S3.

Every source ends up as a local file whose size was checked against the limit while it arrived
and whose sha256 is known, so the importer never reads more than it accepts."""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx

from prodcat_core.errors import InvalidInputError, NotFoundError, PayloadTooLargeError

logger = logging.getLogger(__name__)

_CHUNK = 1 << 20


@dataclass(frozen=True)
class LocalFile:
    path: Path
    name: str
    source: str
    sha256: str
    bytes: int


def _too_large(name: str, limit: int) -> PayloadTooLargeError:
    return PayloadTooLargeError(f"{name}: larger than the limit of {limit} bytes")


def hash_file(path: Path, max_bytes: int) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            size += len(chunk)
            if size > max_bytes:
                raise _too_large(path.name, max_bytes)
            digest.update(chunk)
    return digest.hexdigest(), size


def public_address(url: str, field: str) -> str:
    """The address an http(s) URL's host resolves to, when every address it resolves to is
    public (not loopback, private, link-local…); else a 400 that names the field. The download
    then connects to this very address (`fetch(connect_to=…)`): resolving the name a second time
    would let a DNS answer that changed in between (rebinding) point it back into the cluster."""
    parsed = urlparse(url)
    host = parsed.hostname or ""
    default_port = 443 if parsed.scheme.lower() == "https" else 80
    try:
        infos = socket.getaddrinfo(host, parsed.port or default_port, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError, ValueError) as e:
        raise InvalidInputError(f"{field}: cannot resolve host {host!r}") from e
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    for address in addresses:
        if not address.is_global:
            raise InvalidInputError(
                f"{field}: host {host!r} is a private or local address ({address}); the API "
                "fetches public URLs only (DATA_IMPORT_ALLOW_PRIVATE_URLS=true allows it)"
            )
    if not addresses:  # pragma: no cover - getaddrinfo raises rather than answer nothing
        raise InvalidInputError(f"{field}: cannot resolve host {host!r}")
    return str(addresses[0])


def fetch(
    source: str,
    workdir: Path,
    *,
    max_bytes: int,
    timeout_s: float = 60.0,
    s3_endpoint_url: str | None = None,
    follow_redirects: bool = True,
    connect_to: str | None = None,
) -> LocalFile:
    """Makes `source` available as a local file; downloads go into `workdir`. A caller that vetted
    a URL's host (the API) passes the address it checked as `connect_to` and turns redirects off,
    so neither a second DNS answer nor a redirect can lead somewhere unvetted."""
    scheme = urlparse(source).scheme.lower()
    if scheme in ("http", "https"):
        return _download_http(source, workdir, max_bytes, timeout_s, follow_redirects, connect_to)
    if scheme == "s3":
        return _download_s3(source, workdir, max_bytes, s3_endpoint_url)
    if scheme not in ("", "file"):
        raise InvalidInputError(f"{source}: unsupported source (use a path, http(s):// or s3://)")
    path = Path(urlparse(source).path if scheme == "file" else source)
    if not path.is_file():
        raise NotFoundError(f"{source}: no such file")
    sha, size = hash_file(path, max_bytes)
    return LocalFile(path=path, name=path.name, source=str(path), sha256=sha, bytes=size)


def _name_from_url(url: str) -> str:
    return Path(urlparse(url).path).name or "download.csv"


def _pinned(url: str, address: str) -> tuple[str, dict[str, str], dict[str, Any]]:
    """(URL with the address in place of the host, headers, extensions): the connection goes to
    `address` while the server still sees its own name, in Host and in TLS SNI (and the
    certificate is checked against that name, not the address)."""
    parsed = urlparse(url)
    host = parsed.hostname or ""
    literal = f"[{address}]" if ":" in address else address
    netloc = literal if parsed.port is None else f"{literal}:{parsed.port}"
    host_header = host if parsed.port is None else f"{host}:{parsed.port}"
    extensions = {"sni_hostname": host} if parsed.scheme.lower() == "https" else {}
    return parsed._replace(netloc=netloc).geturl(), {"Host": host_header}, extensions


def _download_http(
    url: str,
    workdir: Path,
    max_bytes: int,
    timeout_s: float,
    follow_redirects: bool,
    connect_to: str | None = None,
) -> LocalFile:
    name = _name_from_url(url)
    dest = workdir / f"download-{hashlib.sha256(url.encode()).hexdigest()[:12]}-{name}"
    digest = hashlib.sha256()
    size = 0
    target, headers, extensions = (url, {}, {}) if connect_to is None else _pinned(url, connect_to)
    try:
        with (
            httpx.Client(timeout=timeout_s, follow_redirects=follow_redirects) as client,
            client.stream("GET", target, headers=headers, extensions=extensions) as response,
        ):
            if response.is_redirect:
                raise InvalidInputError(
                    f"{url}: redirects to {response.headers.get('location')!r}; give the final URL"
                )
            if response.status_code == 404:
                raise NotFoundError(f"{url}: not found (HTTP 404)")
            if response.status_code >= 400:
                raise InvalidInputError(f"{url}: download failed with HTTP {response.status_code}")
            declared = response.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise _too_large(name, max_bytes)
            with dest.open("wb") as out:
                for chunk in response.iter_bytes(_CHUNK):
                    size += len(chunk)
                    if size > max_bytes:
                        raise _too_large(name, max_bytes)
                    digest.update(chunk)
                    out.write(chunk)
    except httpx.HTTPError as e:
        dest.unlink(missing_ok=True)
        raise InvalidInputError(f"{url}: download failed: {e}") from e
    except Exception:
        dest.unlink(missing_ok=True)
        raise
    logger.info("downloaded %s (%d bytes)", url, size)
    return LocalFile(path=dest, name=name, source=url, sha256=digest.hexdigest(), bytes=size)


def _download_s3(url: str, workdir: Path, max_bytes: int, endpoint_url: str | None) -> LocalFile:
    try:
        import boto3  # optional: pip install 'prodcat-data[s3]'
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError as e:
        raise InvalidInputError(
            f"{url}: s3:// sources need boto3 (pip install 'prodcat-data[s3]')"
        ) from e
    parsed = urlparse(url)
    bucket, key = parsed.netloc, parsed.path.lstrip("/")
    client = boto3.client("s3", endpoint_url=endpoint_url)
    dest = workdir / f"download-{hashlib.sha256(url.encode()).hexdigest()[:12]}-{Path(key).name}"
    try:
        head = client.head_object(Bucket=bucket, Key=key)
        if int(head["ContentLength"]) > max_bytes:
            raise _too_large(Path(key).name, max_bytes)
        client.download_file(bucket, key, str(dest))
    except (BotoCoreError, ClientError) as e:
        dest.unlink(missing_ok=True)
        raise InvalidInputError(f"{url}: download failed: {e}") from e
    sha, size = hash_file(dest, max_bytes)
    return LocalFile(path=dest, name=Path(key).name, source=url, sha256=sha, bytes=size)

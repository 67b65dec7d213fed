"""An immutable, versioned store of folders: datasets, prepared splits.

A version is written into a temporary folder beside the store's versions and renamed into place
in one step, so readers see either nothing or the whole version, and a failure leaves the store as
it was. Versions are never modified afterwards. `refs/latest` names the version written last."""

from __future__ import annotations

import contextlib
import json
import logging
import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prodcat_core.errors import InvalidInputError, NotFoundError
from prodcat_core.staging import STAGING_PREFIX, held_folder, remove_orphans

logger = logging.getLogger(__name__)

LATEST = "latest"
MANIFEST = "manifest.json"


class VersionStore:
    """Versions are folders `<root>/<prefix>-<12 hex>`; `prefix` tells dataset from prepared ids."""

    def __init__(self, root: Path, prefix: str, kind: str) -> None:
        self.root = root
        self.prefix = prefix
        self.kind = kind
        self._id_pattern = re.compile(rf"^{re.escape(prefix)}-[0-9a-f]{{12}}$")

    def is_id(self, value: str) -> bool:
        return bool(self._id_pattern.fullmatch(value))

    def check_id(self, value: str) -> str:
        """Rejects anything that is not an id of this store (paths, `..`, other stores' ids)."""
        if not self.is_id(value):
            raise InvalidInputError(
                f"{value!r} is not a {self.kind} id (expected {self.prefix}- and 12 hex digits)"
            )
        return value

    def path(self, version: str) -> Path:
        return self.root / self.check_id(version)

    def exists(self, version: str) -> bool:
        return self.path(version).is_dir()

    def resolve(self, ref: str) -> str:
        """`latest` or an id -> an existing id."""
        if ref == LATEST:
            latest = self.root / "refs" / LATEST
            if not latest.is_file():
                raise NotFoundError(f"no {self.kind} in {self.root} yet")
            ref = latest.read_text(encoding="utf-8").strip()
        if not self.exists(ref):
            raise NotFoundError(f"{self.kind} {ref} not found in {self.root}")
        return ref

    def ids(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and self.is_id(p.name))

    def manifest(self, version: str) -> dict[str, Any]:
        path = self.path(version) / MANIFEST
        try:
            data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as e:
            raise NotFoundError(f"{self.kind} {version} not found in {self.root}") from e
        return data

    def publish(self, version: str, build: Callable[[Path], None]) -> bool:
        """Builds a version with `build(tmp_dir)` and moves it into place.

        Returns False, building nothing, when the version exists already (same inputs, same id).
        """
        target = self.path(version)
        if target.is_dir():
            return False
        self.root.mkdir(parents=True, exist_ok=True)
        self.remove_orphans()
        with self._staging() as tmp:
            build(tmp)
            try:
                tmp.rename(target)
            except OSError:
                # Another writer published the same id meanwhile: same inputs, same content.
                if target.is_dir():
                    return False
                raise
        logger.info("%s %s written to %s", self.kind, version, target)
        return True

    def set_latest(self, version: str) -> None:
        refs = self.root / "refs"
        refs.mkdir(parents=True, exist_ok=True)
        write_text_atomic(refs / LATEST, self.check_id(version) + "\n")

    def remove_orphans(self) -> list[Path]:
        """Removes the staging folders a crashed writer left (none that a live one holds)."""
        return remove_orphans(self.root, STAGING_PREFIX)

    def _staging(self) -> contextlib.AbstractContextManager[Path]:
        return held_folder(self.root, STAGING_PREFIX)


def write_text_atomic(path: Path, text: str) -> None:
    """Writes a file so that readers see the old or the new content, never a part."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def write_json_atomic(path: Path, data: Any) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")

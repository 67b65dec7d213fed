"""Staging folders that a crash cannot leave behind for good.

A staging folder (an upload being received, a version being built) is created and at once
locked with `flock` on the folder itself, for as long as its owner works in it. The kernel drops
the lock when the owner's process ends, however it ends (kill -9 included), and the lock follows
the folder through a rename, so a published version needs no lock file inside it. Whoever starts
later (the API on startup, the next publish) removes the staging folders nobody holds a lock on:
those are what a crash left. A folder whose lock cannot be tried (a file system without flock) is
kept, as is one younger than a few seconds (created, not locked yet)."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

logger = logging.getLogger(__name__)

# A version or artifact being built, beside the versions.
STAGING_PREFIX = ".tmp-"
# Between mkdir and flock a folder is unlocked: this is far longer than that instant.
MIN_ORPHAN_AGE_S = 5.0


@contextlib.contextmanager
def held_folder(parent: Path, prefix: str) -> Iterator[Path]:
    """A new folder `<parent>/<prefix><hex>`, locked until the block ends, removed then unless it
    was renamed away (published) meanwhile."""
    folder = parent / f"{prefix}{uuid.uuid4().hex}"
    folder.mkdir()
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError as e:  # a file system without flock: unlocked, and so never removed
            logger.warning("cannot lock staging folder %s (%s): a crash would leave it", folder, e)
        yield folder
    finally:
        try:
            if folder.exists():
                shutil.rmtree(folder, ignore_errors=True)
        finally:
            os.close(fd)  # releases the lock


def _orphaned(folder: Path, min_age_s: float) -> int | None:
    """An fd holding the lock of `folder` when no live process holds it, else None."""
    try:
        if time.time() - folder.lstat().st_mtime < min_age_s or not folder.is_dir():
            return None
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        os.close(fd)
        if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
            logger.warning("cannot check staging folder %s (%s): kept", folder, e)
        return None
    return fd


def remove_orphans(parent: Path, prefix: str, *, min_age_s: float = MIN_ORPHAN_AGE_S) -> list[Path]:
    """Removes the folders `<parent>/<prefix>*` that no live process holds; returns them."""
    if not parent.is_dir():
        return []
    removed: list[Path] = []
    for folder in sorted(parent.glob(f"{prefix}*")):
        fd = _orphaned(folder, min_age_s)
        if fd is None:
            continue
        try:
            shutil.rmtree(folder)
            removed.append(folder)
        except OSError as e:
            logger.warning("could not remove orphaned staging folder %s: %s", folder, e)
        finally:
            os.close(fd)
    if removed:
        logger.info(
            "removed %d staging folder(s) left by a crash under %s: %s",
            len(removed),
            parent,
            ", ".join(p.name for p in removed),
        )
    return removed

"""Staging folders: a crashed owner's (kill -9) are removed, a live owner's are kept."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from prodcat_core.staging import STAGING_PREFIX, held_folder, remove_orphans
from prodcat_core.store import VersionStore

# A process that stages a folder, writes into it, says where, and waits to be killed.
OWNER = """
import sys, time
from pathlib import Path
from prodcat_core.staging import held_folder
with held_folder(Path(sys.argv[1]), sys.argv[2]) as folder:
    (folder / "part.csv").write_bytes(b"x" * 1000)
    print(folder, flush=True)
    time.sleep(600)
"""


def start_owner(parent: Path, prefix: str) -> tuple[subprocess.Popen[str], Path]:
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER, str(parent), prefix], stdout=subprocess.PIPE, text=True
    )
    assert owner.stdout is not None
    return owner, Path(owner.stdout.readline().strip())


def age(folder: Path, seconds: float = 3600) -> None:
    """Backdates a folder past the grace given to one that was just created."""
    stat = folder.stat()
    os.utime(folder, (stat.st_atime - seconds, stat.st_mtime - seconds))


@pytest.fixture
def owners() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        process.kill()
        process.wait()
        if process.stdout is not None:
            process.stdout.close()


def test_a_killed_owners_folder_goes_a_live_owners_stays(
    tmp_path: Path, owners: list[subprocess.Popen[str]]
) -> None:
    killed, orphan = start_owner(tmp_path, "upload-")
    alive, held = start_owner(tmp_path, "upload-")
    owners += [killed, alive]
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait()
    assert orphan.is_dir()  # kill -9 ran no cleanup
    assert held.is_dir()
    age(orphan)
    age(held)

    assert remove_orphans(tmp_path, "upload-") == [orphan]
    assert not orphan.exists()
    assert (held / "part.csv").is_file()


def test_a_fresh_unlocked_folder_is_not_taken_for_an_orphan(tmp_path: Path) -> None:
    fresh = tmp_path / "upload-new"
    fresh.mkdir()  # what a writer has between mkdir and flock
    assert remove_orphans(tmp_path, "upload-") == []
    age(fresh)
    assert remove_orphans(tmp_path, "upload-") == [fresh]


def test_held_folder_is_removed_unless_renamed(tmp_path: Path) -> None:
    with held_folder(tmp_path, STAGING_PREFIX) as folder:
        (folder / "f").write_text("x")
    assert not folder.exists()
    with held_folder(tmp_path, STAGING_PREFIX) as folder:
        folder.rename(tmp_path / "published")
    assert (tmp_path / "published").is_dir()


def test_a_publish_clears_what_a_crashed_publish_left(
    tmp_path: Path, owners: list[subprocess.Popen[str]]
) -> None:
    store = VersionStore(tmp_path / "store", "ds", "dataset")
    store.root.mkdir()
    killed, orphan = start_owner(store.root, STAGING_PREFIX)
    owners.append(killed)
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait()
    age(orphan)

    def build(tmp: Path) -> None:
        (tmp / "rows").write_text("r")

    assert store.publish("ds-0123456789ab", build)
    assert sorted(p.name for p in store.root.iterdir()) == ["ds-0123456789ab"]

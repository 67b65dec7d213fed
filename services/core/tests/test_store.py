"""The versioned store: id checks, atomic publish, concurrent writers, the latest ref."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from prodcat_core.errors import InvalidInputError, NotFoundError
from prodcat_core.store import VersionStore, write_json_atomic, write_text_atomic

ID_A = "ds-0123456789ab"
ID_B = "ds-ba9876543210"


@pytest.fixture
def store(tmp_path: Path) -> VersionStore:
    return VersionStore(tmp_path / "datasets", "ds", "dataset")


def _entries(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


def _write_manifest(folder: Path, content: str = "a") -> None:
    (folder / "data.txt").write_text(content, encoding="utf-8")
    (folder / "manifest.json").write_text(json.dumps({"content": content}), encoding="utf-8")


@pytest.mark.parametrize(
    "value",
    [
        "../x",
        "ds-XYZ",
        "/etc/passwd",
        "/tmp/ds-0123456789ab",
        "ds-0123456789ab/../../x",
        "ds-0123456789AB",
        "ds-0123456789a",
        "ds-0123456789abc",
        "ds-0123456789ab\n",
        "pp-0123456789ab",
        "latest",
        "",
    ],
)
def test_check_id_rejects_what_is_not_an_id(store: VersionStore, value: str) -> None:
    with pytest.raises(InvalidInputError, match="is not a dataset id") as info:
        store.check_id(value)
    assert repr(value) in info.value.message
    assert not store.is_id(value)
    with pytest.raises(InvalidInputError):
        store.path(value)


def test_check_id_accepts_an_id(store: VersionStore) -> None:
    assert store.check_id(ID_A) == ID_A
    assert store.path(ID_A) == store.root / ID_A


def test_publish_moves_the_built_folder_into_place(store: VersionStore) -> None:
    assert store.publish(ID_A, _write_manifest) is True
    assert store.exists(ID_A)
    assert (store.path(ID_A) / "data.txt").read_text(encoding="utf-8") == "a"
    assert store.manifest(ID_A) == {"content": "a"}
    assert store.ids() == [ID_A]
    assert not [p for p in store.root.iterdir() if p.name.startswith(".tmp-")]


def test_publish_of_an_existing_version_builds_nothing(store: VersionStore) -> None:
    store.publish(ID_A, _write_manifest)
    calls: list[Path] = []
    assert store.publish(ID_A, calls.append) is False
    assert calls == []
    assert store.manifest(ID_A) == {"content": "a"}


def test_publish_that_fails_leaves_no_trace(store: VersionStore) -> None:
    store.publish(ID_A, _write_manifest)
    before = _entries(store.root)

    def build(tmp: Path) -> None:
        (tmp / "half.parquet").write_bytes(b"PAR1 half a file")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        store.publish(ID_B, build)
    assert _entries(store.root) == before
    assert not store.exists(ID_B)


def test_publish_of_the_same_id_by_a_second_writer_meanwhile(store: VersionStore) -> None:
    """The writer that renames second finds the version there and reports it did not create it."""
    inner: list[bool] = []

    def outer_build(tmp: Path) -> None:
        _write_manifest(tmp, "outer")
        inner.append(store.publish(ID_A, lambda t: _write_manifest(t, "inner")))

    assert store.publish(ID_A, outer_build) is False
    assert inner == [True]
    assert store.manifest(ID_A) == {"content": "inner"}
    assert _entries(store.root) == [ID_A, f"{ID_A}/data.txt", f"{ID_A}/manifest.json"]


def test_concurrent_publish_has_one_winner(store: VersionStore) -> None:
    barrier = threading.Barrier(2, timeout=10)
    results: dict[str, bool] = {}
    errors: list[BaseException] = []

    def writer(name: str) -> None:
        def build(tmp: Path) -> None:
            _write_manifest(tmp, name)
            barrier.wait()  # both writers are past the exists-check and have built

        try:
            results[name] = store.publish(ID_A, build)
        except BaseException as e:  # reported below, in the test's thread
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(n,)) for n in ("one", "two")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert errors == []
    assert sorted(results.values()) == [False, True]
    winner = next(name for name, created in results.items() if created)
    assert store.manifest(ID_A) == {"content": winner}
    assert _entries(store.root) == [ID_A, f"{ID_A}/data.txt", f"{ID_A}/manifest.json"]


def test_latest_ref(store: VersionStore) -> None:
    with pytest.raises(NotFoundError, match="no dataset"):
        store.resolve("latest")
    store.publish(ID_A, _write_manifest)
    store.publish(ID_B, _write_manifest)
    store.set_latest(ID_A)
    assert store.resolve("latest") == ID_A
    store.set_latest(ID_B)
    assert store.resolve("latest") == ID_B
    assert (store.root / "refs" / "latest").read_text(encoding="utf-8") == f"{ID_B}\n"
    assert store.resolve(ID_A) == ID_A
    # refs is not a version.
    assert store.ids() == [ID_A, ID_B]


def test_set_latest_refuses_a_non_id(store: VersionStore) -> None:
    with pytest.raises(InvalidInputError):
        store.set_latest("../../etc")
    assert not (store.root / "refs" / "latest").exists()


def test_resolve_unknown_version(store: VersionStore) -> None:
    with pytest.raises(NotFoundError, match=f"dataset {ID_A} not found"):
        store.resolve(ID_A)
    with pytest.raises(InvalidInputError):
        store.resolve("../x")


def test_manifest_of_a_missing_version(store: VersionStore) -> None:
    with pytest.raises(NotFoundError):
        store.manifest(ID_A)


def test_ids_of_a_missing_root(store: VersionStore) -> None:
    assert store.ids() == []


def test_ids_ignore_other_folders(store: VersionStore) -> None:
    store.publish(ID_A, _write_manifest)
    (store.root / ".tmp-leftover").mkdir()
    (store.root / "pp-0123456789ab").mkdir()
    (store.root / "ds-0123456789ac.txt").write_text("", encoding="utf-8")
    assert store.ids() == [ID_A]


def test_write_text_atomic_replaces_and_leaves_no_temp(tmp_path: Path) -> None:
    path = tmp_path / "report.txt"
    write_text_atomic(path, "old")
    write_text_atomic(path, "new")
    assert path.read_text(encoding="utf-8") == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["report.txt"]


def test_write_text_atomic_failure_keeps_the_old_content(tmp_path: Path) -> None:
    path = tmp_path / "report.txt"
    write_text_atomic(path, "old")
    with pytest.raises(UnicodeEncodeError):
        write_text_atomic(path, "bad \udcff surrogate")
    assert path.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.txt"]


def test_write_json_atomic(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    write_json_atomic(path, {"name": "été", "when": Path("/x")})
    text = path.read_text(encoding="utf-8")
    assert "été" in text
    assert json.loads(text) == {"name": "été", "when": "/x"}

"""`prodcat data …` through the real executable: exit codes, one-line errors, the stages' output.

Each run starts a Python process that loads every installed stage (seconds each), so the module
starts its independent runs together and the tests check their results."""

from __future__ import annotations

import functools
import os
import re
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from prodcat_core.datasets import X_FILENAME, Y_FILENAME, dataset_store, prepared_store

PRODCAT = Path(sys.executable).parent / "prodcat"

X_GOOD = (
    ",designation,description,productid,imageid\r\n"
    "1000,Chaise de jardin en teck,Pliante,3804725264,1263597046\r\n"
    "1001,Livre de poche,,436067568,1008141237\r\n"
    "1002,Piscine gonflable ronde,Piscine 3 m,201115110,938777978\r\n"
)
Y_GOOD = ",prdtypecode\r\n1000,2582\r\n1001,10\r\n1002,2583\r\n"

# name -> (X, Y, the file at fault, where in it)
BAD_IMPORTS = {
    "unknown-label": (
        X_GOOD,
        Y_GOOD.replace("1001,10", "1001,9999"),
        Y_FILENAME,
        r"row 2 \(id 1001\)",
    ),
    "duplicate-id": (
        X_GOOD.replace("\r\n1002,", "\r\n1000,"),
        Y_GOOD,
        X_FILENAME,
        r"row 3 \(id 1000\)",
    ),
    "extra-field": (
        X_GOOD.replace("poche,,", "poche,,extra,"),
        Y_GOOD,
        X_FILENAME,
        r"row 2|line 3",
    ),
}

Run = subprocess.CompletedProcess[str]


def _env(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATA_", "PRODCAT_"))}
    env["DATA_DATASETS_DIR"] = str(root / "datasets")
    env["DATA_PREPARED_DIR"] = str(root / "prepared")
    return env


def _prodcat(root: Path, *args: str) -> Run:
    return subprocess.run(
        [str(PRODCAT), *args],
        cwd=root,
        env=_env(root),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _bad_import(root: Path, x: str, y: str) -> list[Run]:
    (root / "in").mkdir(parents=True)
    (root / "in" / X_FILENAME).write_text(x, encoding="utf-8")
    (root / "in" / Y_FILENAME).write_text(y, encoding="utf-8")
    x_path, y_path = str(root / "in" / X_FILENAME), str(root / "in" / Y_FILENAME)
    return [_prodcat(root, "data", "import", "--x", x_path, "--y", y_path)]


def _pipeline(root: Path) -> list[Run]:
    """generate -> import -> preprocess -> preprocess again -> preprocess row by row."""
    raw = root / "raw"
    x_path, y_path = str(raw / X_FILENAME), str(raw / Y_FILENAME)
    steps = [
        ("data", "generate", "--out", str(raw), "--rows", "300", "--seed", "5"),
        ("data", "import", "--x", x_path, "--y", y_path),
        ("data", "preprocess", "--seed", "3"),
        ("data", "preprocess", "--seed", "3"),
        ("data", "preprocess", "--seed", "3", "--group-by", "row"),
    ]
    runs: list[Run] = []
    for step in steps:
        runs.append(_prodcat(root, *step))
        if runs[-1].returncode != 0:
            break
    return runs


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, list[Run]]]:
    assert PRODCAT.is_file(), f"{PRODCAT} is missing: install the workspace (make env)"
    jobs: dict[str, tuple[Path, Callable[[], list[Run]]]] = {}
    for name, (x, y, _, _) in BAD_IMPORTS.items():
        root = tmp_path_factory.mktemp(name)
        jobs[name] = (root, functools.partial(_bad_import, root, x, y))
    pipeline_root = tmp_path_factory.mktemp("pipeline")
    jobs["pipeline"] = (pipeline_root, functools.partial(_pipeline, pipeline_root))
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        futures = {name: (root, pool.submit(job)) for name, (root, job) in jobs.items()}
        return {name: (root, future.result()) for name, (root, future) in futures.items()}


@pytest.mark.parametrize("name", list(BAD_IMPORTS))
def test_bad_import_exits_2_with_one_error_line(
    runs: dict[str, tuple[Path, list[Run]]], name: str
) -> None:
    root, (done,) = runs[name]
    _, _, file, where = BAD_IMPORTS[name]
    assert done.returncode == 2, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, f"stderr must be one line: {done.stderr!r}"
    assert lines[0].startswith(f"error: {file}: "), lines[0]
    assert re.search(where, lines[0]), lines[0]
    assert not (root / "datasets").exists()


def test_generate_then_import_is_synthetic(runs: dict[str, tuple[Path, list[Run]]]) -> None:
    root, steps = runs["pipeline"]
    generate, imported = steps[0], steps[1]
    assert generate.returncode == 0, generate.stderr
    assert (root / "raw" / X_FILENAME).is_file()
    assert imported.returncode == 0, imported.stderr
    (dataset_id,) = dataset_store(root / "datasets").ids()
    assert f"imported {dataset_id}: 300 synthetic rows, 27 classes" in imported.stdout
    assert "error" not in imported.stderr


def test_preprocess_twice(runs: dict[str, tuple[Path, list[Run]]]) -> None:
    root, steps = runs["pipeline"]
    assert len(steps) == 5, steps[-1].stderr
    first, second, by_row = steps[2], steps[3], steps[4]
    assert first.returncode == 0, first.stderr
    found = re.search(r"prepared (pp-[0-9a-f]{12}) from ds-[0-9a-f]{12}: train \d+", first.stdout)
    assert found, first.stdout
    prepared_id = found[1]
    assert re.search(r"\d+ groups, \d+ rows kept with their group", first.stdout), first.stdout
    assert "nothing to do" not in first.stdout
    assert second.returncode == 0, second.stderr
    assert f"is already prepared as {prepared_id}: nothing to do" in second.stdout
    # The old random split is another version; its manifest says how it was split.
    assert by_row.returncode == 0, by_row.stderr
    store = prepared_store(root / "prepared")
    (row_id,) = set(store.ids()) - {prepared_id}
    assert store.manifest(prepared_id)["split"]["group_by"] == "designation"
    assert store.manifest(row_id)["split"]["group_by"] == "row"
    assert store.manifest(row_id)["rows_kept_together"] == 0

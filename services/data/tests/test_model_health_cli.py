"""The CLI twins of the API's model-health actions, through the real executable: `prodcat data
feedback --file`, `prodcat data import --base`, `prodcat runs start monitor|retrain`. Bad input
exits 2 with one line naming the file and row, and writes nothing."""

from __future__ import annotations

import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from prodcat_core.feedback import read_feedback

from .test_data_cli import X_GOOD, Y_GOOD, Run, _prodcat

GOOD_LABELS = (
    "listing_id,designation,description,prdtypecode\r\n"
    "0f3c2a9d5e7b4c1a,,,2583\r\n"
    ",Chaise de jardin,Teck,2582\r\n"
)
BAD_LABELS = "listing_id,prdtypecode\r\n0f3c2a9d5e7b4c1a,2583\r\n0f3c2a9d5e7b4c1b,9\r\n"
# One listing of X_GOOD again under another label, one new listing.
X_MORE = (
    ",designation,description,productid,imageid\r\n"
    "0,Livre de poche,,436067568,1008141237\r\n"
    "1,Console de jeu portable,,15,25\r\n"
)
Y_MORE = ",prdtypecode\r\n0,2705\r\n1,60\r\n"


def _write(root: Path, name: str, text: str) -> str:
    (root / name).write_text(text, encoding="utf-8")
    return str(root / name)


def _feedback(root: Path, text: str) -> list[Run]:
    return [_prodcat(root, "data", "feedback", "--file", _write(root, "labels.csv", text))]


def _append(root: Path) -> list[Run]:
    x, y = _write(root, "X.csv", X_GOOD), _write(root, "Y.csv", Y_GOOD)
    more_x, more_y = _write(root, "X2.csv", X_MORE), _write(root, "Y2.csv", Y_MORE)
    wrong_x = _write(root, "X3.csv", X_MORE.replace("imageid", "image"))
    return [
        _prodcat(root, "data", "import", "--x", x, "--y", y),
        _prodcat(root, "data", "import", "--x", more_x, "--y", more_y, "--base", "latest"),
        _prodcat(root, "data", "import", "--x", wrong_x, "--y", more_y, "--base", "latest"),
    ]


def _bad_runs(root: Path) -> list[Run]:
    return [
        _prodcat(root, "runs", "start", "retrain", "--dataset", "ds-0123456789ab"),
        _prodcat(root, "runs", "start", "monitor", "--since", "forever"),
    ]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, list[Run]]]:
    jobs: dict[str, Callable[[Path], list[Run]]] = {
        "good-feedback": functools.partial(_feedback, text=GOOD_LABELS),
        "bad-feedback": functools.partial(_feedback, text=BAD_LABELS),
        "append": _append,
        "bad-runs": _bad_runs,
    }
    roots = {name: tmp_path_factory.mktemp(name) for name in jobs}
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        futures = {name: pool.submit(job, roots[name]) for name, job in jobs.items()}
        return {name: (roots[name], future.result()) for name, future in futures.items()}


def test_feedback_from_a_csv(runs: dict[str, tuple[Path, list[Run]]]) -> None:
    root, (done,) = runs["good-feedback"]
    assert done.returncode == 0, done.stderr
    assert "stored 2 labels (1 by listing id, 1 by text)" in done.stdout
    stored = read_feedback(root / "data" / "feedback").to_pylist()
    assert [(r["listing_id"], r["prdtypecode"], r["source"]) for r in stored] == [
        ("0f3c2a9d5e7b4c1a", 2583, "cli"),
        (None, 2582, "cli"),
    ]


def test_bad_feedback_exits_2_and_stores_nothing(runs: dict[str, tuple[Path, list[Run]]]) -> None:
    root, (done,) = runs["bad-feedback"]
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "error: labels.csv: row 2: prdtypecode 9 is not a known product type"
    ]
    assert not (root / "data" / "feedback").exists()


def test_import_on_top_of_the_latest_dataset(runs: dict[str, tuple[Path, list[Run]]]) -> None:
    _, (base, appended, wrong) = runs["append"]
    assert base.returncode == 0, base.stderr
    assert appended.returncode == 0, appended.stderr
    assert "+ 1 new rows: 4 rows, 4 classes; dropped 0 duplicates and 1 conflicting labels" in (
        appended.stdout
    )
    assert "conflict: row id 0 (productid 436067568) is labelled 2705" in appended.stdout
    assert wrong.returncode == 2
    [line] = wrong.stderr.splitlines()
    assert line.startswith("error: X3.csv: missing column(s) imageid"), line


def test_bad_runs_exit_2(runs: dict[str, tuple[Path, list[Run]]]) -> None:
    _, (retrain, monitor) = runs["bad-runs"]
    assert retrain.returncode == 2
    assert "ds-0123456789ab not found" in retrain.stderr
    assert monitor.returncode == 2
    assert "since" in monitor.stderr

"""The whole pipeline through the real CLI: import -> preprocess -> train -> evaluate with the
promotion gate, on generated data; the DVC pipeline; the real sample from ../shared."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from tests.support import BIN, REPO, SMALL_MODEL, Workspace, make_workspace


def _last_json_lines(stdout: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


@pytest.mark.slow
def test_stages_promote_the_first_model_and_refuse_a_worse_one(
    workspace: Workspace, synthetic_files: tuple[Path, Path]
) -> None:
    x, y = synthetic_files
    imported = workspace.run("data", "import", "--x", str(x), "--y", str(y))
    assert "synthetic rows" in imported.stdout
    again = workspace.run("data", "import", "--x", str(x), "--y", str(y))
    assert "already imported" in again.stdout
    workspace.run("data", "preprocess")

    workspace.run("train", *SMALL_MODEL)
    first = workspace.run("evaluate", "--model", "models:/prodcat@challenger")
    assert "gate       promoted there is no champion yet" in first.stdout
    assert "SYNTHETIC" in first.stdout

    # A crippled model: tiny vocabulary, almost no regularisation budget.
    workspace.run(
        "train",
        "--set",
        "word_max_features=30",
        "--set",
        "char_max_features=30",
        "--set",
        "c=0.001",
    )
    second = workspace.run("evaluate", "--model", "models:/prodcat@challenger")
    assert "not promoted because weighted F1" in second.stdout

    # Both URIs: an in-process test before this one may have set MLflow's global registry URI.
    uri = workspace.env["MLFLOW_TRACKING_URI"]
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    assert str(client.get_model_version_by_alias("prodcat", "champion").version) == "1"
    assert str(client.get_model_version_by_alias("prodcat", "challenger").version) == "2"
    gate_tag = client.get_model_version("prodcat", "2").tags["gate"]
    assert gate_tag.startswith("not promoted because")

    report = json.loads(next((workspace.root / "results").glob("ev-*/report.json")).read_text())
    assert {"test", "holdout"} <= set(report["splits"])
    assert list((workspace.root / "results").glob("ev-*/confusion_matrix.png"))
    summary = workspace.run("summary")
    assert "not promoted because" in summary.stdout


@pytest.mark.slow
def test_dvc_repro_runs_every_stage_then_skips_them(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    for name in ("dvc.yaml", "params.yaml", ".dvcignore"):
        shutil.copy(REPO / name, project / name)
    shutil.copytree(REPO / ".dvc", project / ".dvc", ignore=shutil.ignore_patterns("tmp", "cache"))
    params = (project / "params.yaml").read_text()
    params = params.replace("rows: 85000", "rows: 800")
    params = params.replace("word_max_features: 300000", "word_max_features: 20000")
    params = params.replace("char_max_features: 300000", "char_max_features: 20000")
    (project / "params.yaml").write_text(params)
    ws = make_workspace(project)
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)

    def dvc(*args: str) -> str:
        done = subprocess.run(
            [str(BIN / "dvc"), *args],
            cwd=project,
            env=ws.env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout + done.stderr

    first = dvc("repro")
    for stage in ("generate", "import", "preprocess", "train", "evaluate"):
        assert f"Running stage '{stage}'" in first
    # No git advice: dvc.lock (committed, as DVC intends) is staged by DVC itself.
    assert "git add" not in first
    staged = subprocess.run(
        ["git", "diff", "--cached", "--name-only"], cwd=project, capture_output=True, text=True
    )
    assert "dvc.lock" in staged.stdout.split()
    second = dvc("repro")
    for stage in ("generate", "import", "preprocess", "train", "evaluate"):
        assert f"Stage '{stage}' didn't change, skipping" in second
    assert "Running stage" not in second

    pushed = dvc("push")
    assert "pushed" in pushed
    assert any((project / "dvc-storage").rglob("*")), "nothing reached the local DVC remote"
    assert "promoted there is no champion yet" in ws.run("summary").stdout


@pytest.mark.slow
@pytest.mark.shared
def test_the_real_sample_imports_and_trains(
    workspace: Workspace, shared_sample: tuple[Path, Path]
) -> None:
    x, y = shared_sample
    imported = workspace.run("data", "import", "--x", str(x), "--y", str(y))
    assert "5,274 rows, 27 classes" in imported.stdout
    assert "synthetic" not in imported.stdout
    workspace.run("data", "preprocess")
    workspace.run("train")
    evaluated = workspace.run("evaluate")
    report = json.loads(next((workspace.root / "results").glob("ev-*/report.json")).read_text())
    assert report["synthetic"] is False
    assert "SYNTHETIC" not in evaluated.stdout
    # Orientation from ../shared/data/README.md: a strong baseline scores about 0.75 here.
    assert report["splits"]["test"]["scores"]["weighted_f1"] > 0.65

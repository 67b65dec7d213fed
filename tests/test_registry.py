"""Training and evaluation against a real `mlflow server` on 127.0.0.1: runs, registry versions,
aliases; and the failures that must leave the registry unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from prodcat_core.artifact import read_artifact
from prodcat_train.config import TrainSettings
from prodcat_train.tracking import track_training
from tests.support import SMALL_MODEL, MlflowServer, Workspace, free_port, make_workspace


def _prepared(ws: Workspace, files: tuple[Path, Path]) -> None:
    ws.run("data", "import", "--x", str(files[0]), "--y", str(files[1]))
    ws.run("data", "preprocess")


def _registry_state(url: str) -> tuple[list[str], dict[str, str]]:
    """Versions and aliases (search results do not carry aliases: read each version)."""
    client = MlflowClient(tracking_uri=url, registry_uri=url)
    versions = sorted(str(v.version) for v in client.search_model_versions("name = 'prodcat'"))
    aliases = {
        alias: version
        for version in versions
        for alias in client.get_model_version("prodcat", version).aliases
    }
    return versions, aliases


def _one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.mark.slow
def test_a_run_is_tracked_and_registered_on_a_real_server(
    tmp_path: Path, mlflow_server: MlflowServer, synthetic_files: tuple[Path, Path]
) -> None:
    ws = make_workspace(tmp_path / "ws", tracking_uri=mlflow_server.url)
    ws.root.mkdir()
    _prepared(ws, synthetic_files)
    trained = ws.run("train", *SMALL_MODEL)
    assert "registered as version 1 (challenger)" in trained.stdout

    client = MlflowClient(tracking_uri=mlflow_server.url, registry_uri=mlflow_server.url)
    version = client.get_model_version_by_alias("prodcat", "challenger")
    assert version.run_id
    run = client.get_run(version.run_id)
    assert run.data.params["word_max_features"] == "20000"
    assert run.data.metrics["val_weighted_f1"] > 0.5
    for tag in ("dataset_id", "prepared_id", "git_commit", "model_id"):
        assert run.data.tags[tag]
    mlflow.set_tracking_uri(mlflow_server.url)
    mlflow.set_registry_uri(mlflow_server.url)
    local = Path(
        mlflow.artifacts.download_artifacts(
            "models:/prodcat@challenger", dst_path=str(tmp_path / "dl")
        )
    )
    assert (local / "MLmodel").is_file()
    (artifact,) = (p.parent for p in local.glob("artifacts/*/metadata.json"))
    for name in ("label_codec.json", "linear/weights.npz", "linear/features.json"):
        assert (artifact / name).is_file()

    # A Job killed after registering and restarted tracks the same model again: no new version,
    # no new run.
    settings = TrainSettings(tracking_uri=mlflow_server.url)
    again = track_training(settings, artifact, read_artifact(artifact)[0], history=[])
    assert (again.run_id, again.version.version) == (version.run_id, "1")
    assert len(client.search_runs([run.info.experiment_id])) == 1
    assert _registry_state(mlflow_server.url) == (["1"], {"challenger": "1"})

    evaluated = ws.run("evaluate", "--model", "models:/prodcat@challenger")
    assert "promoted there is no champion yet" in evaluated.stdout
    assert _registry_state(mlflow_server.url) == (["1"], {"challenger": "1", "champion": "1"})
    runs = client.search_runs([run.info.experiment_id], "tags.stage = 'evaluate'")
    assert len(runs) == 1
    assert runs[0].data.metrics["test_weighted_f1"] > 0.5
    assert runs[0].data.metrics["promoted"] == 1.0


@pytest.mark.slow
def test_failures_give_one_clear_line_and_leave_the_registry_unchanged(
    tmp_path: Path, mlflow_server: MlflowServer, synthetic_files: tuple[Path, Path]
) -> None:
    ws = make_workspace(tmp_path / "ws", tracking_uri=mlflow_server.url)
    ws.root.mkdir()
    _prepared(ws, synthetic_files)
    ws.run("train", *SMALL_MODEL)
    ws.run("evaluate", "--model", "models:/prodcat@challenger")
    before = _registry_state(mlflow_server.url)
    models_before = sorted(p.name for p in (ws.root / "models" / "artifacts").iterdir())

    # An unknown model name.
    unknown = ws.run("evaluate", "--model", "models:/no-such-model@champion", check=False)
    assert unknown.returncode == 2
    assert "not found" in _one_error_line(unknown.stderr)

    # A corrupt model file: the artifact's hash check refuses it.
    artifact = next(
        p for p in (ws.root / "models" / "artifacts").iterdir() if p.name.startswith("m-")
    )
    weights = artifact / "linear" / "weights.npz"
    weights.write_bytes(weights.read_bytes()[:-100])
    corrupt = ws.run("evaluate", "--model", str(artifact), check=False)
    assert corrupt.returncode == 2
    assert "corrupt" in _one_error_line(corrupt.stderr)

    # A missing model file.
    weights.unlink()
    missing = ws.run("evaluate", "--model", str(artifact), check=False)
    assert missing.returncode == 2
    assert "missing" in _one_error_line(missing.stderr)

    assert _registry_state(mlflow_server.url) == before

    # The tracking server goes down: train and evaluate fail fast, write nothing.
    mlflow_server.stop()
    down_train = ws.run("train", *SMALL_MODEL, check=False)
    assert down_train.returncode == 1
    assert "unreachable" in _one_error_line(down_train.stderr)
    down_eval = ws.run("evaluate", "--model", "models:/prodcat@challenger", check=False)
    assert down_eval.returncode == 1
    assert "unreachable" in _one_error_line(down_eval.stderr)
    assert sorted(p.name for p in (ws.root / "models" / "artifacts").iterdir()) == models_before

    mlflow_server.start()
    assert _registry_state(mlflow_server.url) == before


def test_a_tracking_uri_nobody_listens_on_is_reported_before_any_work(
    workspace: Workspace, synthetic_files: tuple[Path, Path]
) -> None:
    _prepared(workspace, synthetic_files)
    workspace.env["MLFLOW_TRACKING_URI"] = f"http://127.0.0.1:{free_port()}"
    done = workspace.run("train", *SMALL_MODEL, check=False)
    assert done.returncode == 1
    line = _one_error_line(done.stderr)
    assert "MLflow tracking server" in line
    assert "unreachable" in line
    assert not (workspace.root / "models" / "artifacts").exists()
    logs = [json.loads(x) for x in done.stdout.splitlines() if x.startswith("{")]
    assert any(entry["level"] == "error" for entry in logs)

"""Every container the chart renders runs, as rendered, as a local process: its command + args +
env (valueFrom resolved, in-container paths and in-cluster URLs rewritten, 127.0.0.1 and free
ports; see tests/processes.py for the one mapping) with this virtualenv's `prodcat` and `mlflow`.

The chain is the cluster's: the MLflow container is the tracking server of every other one, the
data is imported with the data API container's environment (`kubectl exec`, k8s/README.md), the
train Job template trains, the evaluate Job template promotes the champion, and the predictors
(InferenceService, the fallback Deployment, /mnt/models through the storage initializer) load it.
`test_every_rendered_container_has_a_process_test` fails for a container no test here runs."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from prodcat_data.synthetic import generate_listings
from tests.chart.render import RELEASE, render
from tests.chart.scenarios import (
    DEFAULTS,
    PASSWORD_VALUES,
    job_templates,
    objects,
    scenario_names,
    scenario_path,
    values,
)
from tests.processes import (
    PATHS,
    Platform,
    Sandbox,
    classify,
    find_container,
    predictions,
    rendered_containers,
    run_to_completion,
)

pytest_plugins = ["tests.processes"]

API = f"Deployment/{RELEASE}-api"
MLFLOW = f"Deployment/{RELEASE}-mlflow"
ISVC = f"InferenceService/{RELEASE}"
FALLBACK = f"Deployment/{RELEASE}-predictor"
TRAIN = f"ConfigMap/{RELEASE}-job-templates/train.yaml"
EVALUATE = f"ConfigMap/{RELEASE}-job-templates/evaluate.yaml"
BATCH = f"ConfigMap/{RELEASE}-job-templates/batch.yaml"
CRONJOB = f"CronJob/{RELEASE}-retrain"
MONITOR = f"ConfigMap/{RELEASE}-job-templates/monitor.yaml"
MONITOR_CRONJOB = f"CronJob/{RELEASE}-monitor"
RETRAIN = f"ConfigMap/{RELEASE}-job-templates/retrain.yaml"
LISTING = {"designation": "Figurine Pop manga", "description": "Vinyle, 10 cm"}


def _get(url: str) -> httpx.Response:
    return httpx.get(url, timeout=10, trust_env=False)


@pytest.mark.slow
def test_mlflow_container_serves_the_tracking_store(chart_platform: Platform) -> None:
    """`mlflow server …` of the MLflow Deployment (the public image's command, run with this
    virtualenv's mlflow): healthy, its SQLite store on the /mlflow volume, the artifacts of the
    runs proxied onto the same volume, and its DNS-rebinding guard takes the Service's names
    only."""
    server = chart_platform.start_mlflow()
    assert _get(f"{server.url}/health").status_code == 200
    store = chart_platform.sandbox.host_path("/mlflow", "mlflow")
    assert (store / "mlflow.db").is_file()
    chart_platform.evaluate()
    assert any((store / "artifacts").rglob("metadata.json")), "no run artifact on /mlflow"
    for host in (f"{RELEASE}-mlflow:5000", f"{RELEASE}-mlflow.{RELEASE}.svc.cluster.local:5000"):
        ok = httpx.get(
            f"{server.url}/api/2.0/mlflow/experiments/search",
            params={"max_results": 1},
            headers={"Host": host},
            trust_env=False,
        )
        assert ok.status_code == 200, (host, ok.text)
    refused = httpx.get(
        f"{server.url}/api/2.0/mlflow/experiments/search",
        params={"max_results": 1},
        headers={"Host": "attacker.example"},
        trust_env=False,
    )
    assert refused.status_code == 403
    server.check_mounts()


@pytest.mark.slow
def test_api_container_is_healthy_and_ready(chart_platform: Platform) -> None:
    """`tini -- prodcat data serve` with the Deployment's env (Kubernetes runner, Job templates
    from the mounted ConfigMap, run records under /data/runs): /health and /ready answer, every
    readiness check passes (stores writable, database, MLflow), and it lists the dataset imported
    through `kubectl exec` with the same container."""
    with chart_platform.serve(objects(DEFAULTS), API, "api", "api") as server:
        ready = _get(f"{server.url}/ready")
        assert ready.status_code == 200, ready.text
        checks = ready.json()["checks"]
        assert {"datasets_dir", "prepared_dir", "uploads_dir", "database", "mlflow"} <= set(checks)
        assert all(c["ok"] for c in checks.values()), checks
        datasets = _get(f"{server.url}/datasets")
        assert datasets.status_code == 200, datasets.text
        assert re.search(r'"ds-[0-9a-f]{12}"', datasets.text), datasets.text
        runs_db = chart_platform.sandbox.host_path("/data/runs/runs.db", "api")
        assert runs_db.is_file(), "the run records are not under DATA_RUNS_DIR on the data volume"
        server.check_mounts()


@pytest.mark.slow
def test_api_replicas_read_the_run_database_from_their_secret(chart_platform: Platform) -> None:
    """api-replicas: DATA_DATABASE_URL comes from the Secret api.database.existingSecret. Its
    test value is a SQLite URL outside /data/runs (no Postgres here): the API keeps its run
    records where the Secret says, and nowhere else."""
    objs = objects("api-replicas")
    database = chart_platform.sandbox.root / "secret-database" / "runs.db"
    secrets = {("prodcat-api-db", "url"): f"sqlite:///{database}"}
    with chart_platform.serve(objs, API, "api", "api-replicas", secrets=secrets) as server:
        assert server.launch.env["DATA_DATABASE_URL"] == f"sqlite:///{database}"
        ready = _get(f"{server.url}/ready")
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"]["database"]["ok"] is True
        assert _get(f"{server.url}/runs").status_code == 200
        assert database.is_file()
        server.check_mounts()


@pytest.mark.slow
def test_train_job_template_completes(chart_platform: Platform) -> None:
    """train.yaml of the job-templates ConfigMap (the Job the API's runner creates): trains on
    the prepared data it reads from the read-only /data and writes the artifact to /artifacts."""
    result = chart_platform.train()
    assert "registered as version" in result.output, result.output[-2000:]
    assert chart_platform.models(), "no model artifact under /artifacts/models"


@pytest.mark.slow
def test_evaluate_job_template_completes(chart_platform: Platform) -> None:
    """evaluate.yaml: scores the latest model, writes its report to /artifacts/results and
    promotes it to champion (the first model, there is none before)."""
    result = chart_platform.evaluate()
    reports = list(
        chart_platform.sandbox.host_path("/artifacts/results", "-").glob("*/report.json")
    )
    assert reports, result.output[-2000:]
    report = json.loads(reports[0].read_text(encoding="utf-8"))
    assert report["promoted"] is True, report["gate"]
    assert chart_platform.champion()["version"] == "1"


@pytest.mark.slow
def test_batch_job_template_completes(chart_platform: Platform) -> None:
    """batch.yaml: each index of the Indexed Job (JOB_COMPLETION_INDEX, which Kubernetes sets
    in its pods) scores its shard of the listings under the read-only /data with the latest
    model and writes its part under /artifacts; the shard that completes the set writes
    _SUCCESS."""
    chart_platform.train()
    objs = chart_platform.objs
    template = job_templates(objs)["batch"]
    [container] = template["spec"]["template"]["spec"]["containers"]
    args = container["args"]
    source = args[args.index("--input") + 1]
    target = args[args.index("--output") + 1]
    listings, _ = generate_listings(700, 9)
    folder = chart_platform.sandbox.host_path(source, "-")
    folder.mkdir(parents=True, exist_ok=True)
    listings.to_csv(folder / "listings.csv")
    shards = int(template["spec"]["completions"])
    outputs = []
    for index in range(shards):
        launch = chart_platform.sandbox.launch(objs, find_container(objs, BATCH, "run"), "batch")
        launch.env["JOB_COMPLETION_INDEX"] = str(index)
        outputs.append(run_to_completion(launch).output)
    out = chart_platform.sandbox.host_path(target, "-")
    assert (out / "_SUCCESS").is_file(), outputs[-1][-2000:]
    parts = sorted(out.glob("part-*.parquet"))
    assert len(parts) == shards
    assert sum(len(pd.read_parquet(p)) for p in parts) == len(listings)


def _check_predictor(url: str, champion: dict[str, Any]) -> None:
    """It predicts (V1 and the product route) and serves the champion's model id."""
    answer = predictions(url)
    assert len(answer["predictions"]) == 1
    assert answer["predictions"][0]["prdtypecode"] > 0
    classified = classify(url, LISTING)
    assert classified.status_code == 200, classified.text
    tags = {t["key"]: t["value"] for t in champion.get("tags", [])}
    assert classified.json()["model"]["model_id"] == tags["model_id"]


@pytest.mark.slow
def test_inferenceservice_predictor_serves_the_champion(chart_platform: Platform) -> None:
    """The InferenceService's kserve-container (defaults): PREDICT_MODEL_SOURCE is
    models:/prodcat@champion on the MLflow container; ready on /v2/health/ready, predicts."""
    champion = chart_platform.champion()
    with chart_platform.serve(objects(DEFAULTS), ISVC, "kserve-container", "isvc") as server:
        assert server.launch.env["PREDICT_MODEL_SOURCE"] == "models:/prodcat@champion"
        _check_predictor(server.url, champion)
        metrics = _get(f"{server.url}/metrics").text
        assert 'alias="champion"' in metrics
        server.check_mounts()


@pytest.mark.slow
def test_inferenceservice_predictor_loads_the_storage_uri(chart_platform: Platform) -> None:
    """kserve-on: PREDICT_MODEL_SOURCE=/mnt/models, filled by the storage initializer from
    STORAGE_URI pvc://<models claim>/models/<m-id> (the scenario's id replaced by the trained
    one)."""
    champion = chart_platform.champion()
    model_id = {t["key"]: t["value"] for t in champion["tags"]}["model_id"]
    declared = find_container(objects("kserve-on"), ISVC, "kserve-container").container
    storage_uri = {e["name"]: e.get("value") for e in declared["env"]}["STORAGE_URI"]
    assert re.fullmatch(rf"pvc://{RELEASE}-models/models/m-[0-9a-f]{{12}}", storage_uri)
    objs = render(
        scenario_path("kserve-on"),
        {**PASSWORD_VALUES, "predictor.storageUri": f"pvc://{RELEASE}-models/models/{model_id}"},
    )
    with chart_platform.serve(objs, ISVC, "kserve-container", "isvc-storage") as server:
        assert server.launch.env["PREDICT_MODEL_SOURCE"].endswith("/mnt-models")
        _check_predictor(server.url, champion)
        server.check_mounts()


@pytest.mark.slow
def test_fallback_predictor_deployment_serves_the_champion(chart_platform: Platform) -> None:
    """kserve-off: the plain Deployment's predictor container, same command, same model."""
    objs = objects("kserve-off")
    with chart_platform.serve(objs, FALLBACK, "predictor", "predictor") as server:
        _check_predictor(server.url, chart_platform.champion())
        server.check_mounts()


@pytest.mark.slow
def test_retraining_cronjob_completes(chart_platform: Platform) -> None:
    """The retraining CronJob (scenario all: the train template with its default linear args)
    trains a new model version as a challenger. The cronjob scenario's transformer args are the
    same container with other args; fine-tuning a transformer is beyond a unit test's minutes."""
    chart_platform.evaluate()
    before = len(chart_platform.models())
    objs = objects("all")
    result = chart_platform.run_job(objs, CRONJOB, "retrain")
    assert "registered as version 2" in result.output, result.output[-2000:]
    assert len(chart_platform.models()) == before + 1


@pytest.mark.slow
def test_monitor_job_template_and_cronjob_write_a_report(chart_platform: Platform) -> None:
    """monitor.yaml and the monitor CronJob (scenario model-health): `prodcat monitor` on the
    champion reads the inference log and the feedback labels and writes its report where the data
    API serves it from (/artifacts/monitoring/latest.json). No traffic was logged here: the
    report says so (not_enough_data) and the run still succeeds."""
    chart_platform.champion()
    objs = objects("model-health")
    for where, pod in ((MONITOR, "monitor"), (MONITOR_CRONJOB, "monitor-cron")):
        result = chart_platform.run_job(objs, where, pod)
        latest = chart_platform.sandbox.host_path("/artifacts/monitoring", "-") / "latest.json"
        assert latest.is_file(), result.output[-2000:]
        report = json.loads(latest.read_text(encoding="utf-8"))
        assert report["status"] == "not_enough_data", report
        assert report["model"]["version"] == "1"


@pytest.mark.slow
def test_retrain_cronjob_prepares_trains_and_evaluates(chart_platform: Platform) -> None:
    """The retraining CronJob of the model-health scenario (retraining.kind retrain: the retrain
    run template, the same Job the API's runner creates): preprocess, train, then evaluate with
    the gate, each step its own container of one pod; with approval required nothing moves."""
    champion = chart_platform.champion()["version"]
    before = len(chart_platform.models())
    preprocess, train, evaluate = chart_platform.run_steps(
        objects("model-health"), CRONJOB, "retrain-steps"
    )
    assert "already prepared" in preprocess.output or "prepared pp-" in preprocess.output
    assert "registered as version" in train.output, train.output[-2000:]
    assert "gate" in evaluate.output, evaluate.output[-2000:]
    assert len(chart_platform.models()) == before + 1
    assert "gate " in evaluate.output, evaluate.output[-2000:]
    assert chart_platform.champion()["version"] == champion  # approval required: not promoted


# Every container any scenario renders -> the test above that runs it as a process.
PROCESS_TESTS: dict[tuple[str, str], Callable[[Platform], None]] = {
    (MLFLOW, "mlflow"): test_mlflow_container_serves_the_tracking_store,
    (API, "api"): test_api_container_is_healthy_and_ready,
    (TRAIN, "run"): test_train_job_template_completes,
    (EVALUATE, "run"): test_evaluate_job_template_completes,
    (BATCH, "run"): test_batch_job_template_completes,
    (ISVC, "kserve-container"): test_inferenceservice_predictor_serves_the_champion,
    (FALLBACK, "predictor"): test_fallback_predictor_deployment_serves_the_champion,
    (CRONJOB, "run"): test_retraining_cronjob_completes,
    (MONITOR, "run"): test_monitor_job_template_and_cronjob_write_a_report,
    (MONITOR_CRONJOB, "run"): test_monitor_job_template_and_cronjob_write_a_report,
    (RETRAIN, "preprocess"): test_retrain_cronjob_prepares_trains_and_evaluates,
    (RETRAIN, "train"): test_retrain_cronjob_prepares_trains_and_evaluates,
    (RETRAIN, "run"): test_retrain_cronjob_prepares_trains_and_evaluates,
    (CRONJOB, "preprocess"): test_retrain_cronjob_prepares_trains_and_evaluates,
    (CRONJOB, "train"): test_retrain_cronjob_prepares_trains_and_evaluates,
}


def test_every_rendered_container_has_a_process_test() -> None:
    """A container the chart starts in any scenario, and no test here runs it, fails CI."""
    rendered = {c.key for name in scenario_names() for c in rendered_containers(objects(name))}
    module = sys.modules[__name__]
    assert rendered == set(PROCESS_TESTS), {
        "rendered without a process test": sorted(rendered - set(PROCESS_TESTS)),
        "process test of a container no longer rendered": sorted(set(PROCESS_TESTS) - rendered),
    }
    for test in PROCESS_TESTS.values():
        assert getattr(module, test.__name__) is test


def test_the_local_mlflow_is_the_images_mlflow() -> None:
    """The MLflow container runs here with this virtualenv's mlflow: the same release as the
    image the chart pins (images.mlflow.tag v<version>[-full])."""
    tag = str(values(DEFAULTS)["images"]["mlflow"]["tag"])
    assert re.fullmatch(r"v\d+\.\d+\.\d+(-full)?", tag), tag
    assert tag.removeprefix("v").removesuffix("-full") == metadata.version("mlflow")


def test_every_rendered_path_and_url_has_a_local_stand_in(tmp_path: Path) -> None:
    """Every mount and every in-container path of every scenario's containers is under PATHS,
    and what a container reaches in the cluster is a Service this test can stand in for."""
    sandbox = Sandbox(tmp_path)
    sandbox.services[f"http://{RELEASE}-mlflow:5000"] = "http://127.0.0.1:9"
    for name in scenario_names():
        objs = objects(name)
        for rc in rendered_containers(objs):
            for mount in rc.container.get("volumeMounts", []):
                sandbox.host_path(mount["mountPath"], "p")
            texts = [*rc.container["command"], *rc.container.get("args", [])]
            texts += [e["value"] for e in rc.container.get("env", []) if "value" in e]
            for text in texts:
                sandbox.rewrite(str(text), "p")
    assert set(PATHS) >= {"/data", "/artifacts", "/tmp", "/mnt/models"}

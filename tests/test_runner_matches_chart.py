"""The runner's Job is the chart's Job: KubernetesRunner fed with the ConfigMap the chart renders
builds, for a run, exactly the Job the chart would (the retraining CronJob's jobTemplate is that
same template), valid for Kubernetes 1.31; and the API Deployment gives the runner what it needs
(the templates where it reads them, the RBAC verbs it uses)."""

from __future__ import annotations

import copy
from typing import Any

import kubernetes_validate
import pytest

from prodcat_data.config import DataSettings
from prodcat_data.runners.base import BatchArgs, monitor_args, retrain_args, stage_args
from prodcat_data.runners.kubernetes import (
    NAME_PLACEHOLDER,
    RUN_ID_LABEL,
    RUN_KIND_LABEL,
    build_job,
    check_job_template,
)
from prodcat_data.runners.supervise import split_steps
from prodcat_data.runs.models import as_run_kind
from tests.chart.runner_rbac import runner_permissions
from tests.chart.scenarios import job_templates, named, objects, of_kind, scenario_names, values

RUN_ID = "r-0123456789ab"
KINDS = ("train", "evaluate", "batch")  # monitor and retrain: tests/test_model_health.py
BATCH_SHARDS = 7


def runner_job(template: dict[str, Any], kind: str, args: list[str]) -> dict[str, Any]:
    checked = check_job_template(copy.deepcopy(template), f"{kind}.yaml")
    return build_job(checked, as_run_kind(kind), RUN_ID, args)


def run_args(kind: str) -> list[str]:
    batch = BatchArgs("/data/batch/catalogue", "/artifacts/batch/out", BATCH_SHARDS)
    return stage_args(
        as_run_kind(kind),
        "pp-3f2a9c0d1e4b",
        params={"word_max_features": 20000},
        model="models:/prodcat/3" if kind == "batch" else "m-0123456789ab",
        batch=batch,
    )


@pytest.mark.parametrize("scenario", scenario_names())
@pytest.mark.parametrize("kind", KINDS)
def test_the_runner_fills_in_the_charts_template(scenario: str, kind: str) -> None:
    template = job_templates(objects(scenario))[kind]
    args = run_args(kind)
    job = runner_job(template, kind, args)

    kubernetes_validate.validate(job, "1.31", strict=True)
    assert job["metadata"]["name"] == f"prodcat-{kind}-{RUN_ID}"
    assert template["metadata"]["name"] == NAME_PLACEHOLDER
    for labels in (job["metadata"]["labels"], job["spec"]["template"]["metadata"]["labels"]):
        assert labels[RUN_ID_LABEL] == RUN_ID
        assert labels[RUN_KIND_LABEL] == kind
    # Apart from the name, the run labels and the args, it is the chart's object, unchanged.
    expected = copy.deepcopy(template)
    expected["metadata"]["name"] = job["metadata"]["name"]
    expected["metadata"]["labels"].update({RUN_ID_LABEL: RUN_ID, RUN_KIND_LABEL: kind})
    expected["spec"]["template"]["metadata"]["labels"].update(
        {RUN_ID_LABEL: RUN_ID, RUN_KIND_LABEL: kind}
    )
    [container] = [
        c for c in expected["spec"]["template"]["spec"]["containers"] if c["name"] == "run"
    ]
    container["args"] = args
    if kind == "batch":  # one completion per shard of this run
        assert template["spec"]["completionMode"] == "Indexed"
        expected["spec"]["completions"] = BATCH_SHARDS
        expected["spec"]["parallelism"] = min(template["spec"]["parallelism"], BATCH_SHARDS)
    assert job == expected
    app_labels = {
        k: v
        for k, v in template["metadata"]["labels"].items()
        if k.startswith("app.kubernetes.io/")
    }
    assert app_labels.items() <= job["metadata"]["labels"].items()
    assert app_labels["app.kubernetes.io/component"] == kind


def test_a_batch_run_never_has_more_pods_than_shards() -> None:
    template = job_templates(objects("defaults"))["batch"]
    args = [*run_args("batch")[:-1], "1"]  # --shard-count 1
    job = runner_job(template, "batch", args)
    kubernetes_validate.validate(job, "1.31", strict=True)
    assert (job["spec"]["completions"], job["spec"]["parallelism"]) == (1, 1)


def test_a_run_equals_the_retraining_cronjobs_job() -> None:
    """A Job started from the API and one created from the CronJob are the same object."""
    scenario = "cronjob"
    rendered = objects(scenario)
    [cronjob] = of_kind(rendered, "CronJob")
    chart_job = cronjob["spec"]["jobTemplate"]
    args = list(values(scenario)["jobs"]["train"]["args"])  # what the CronJob runs
    job = runner_job(job_templates(rendered)["train"], "train", args)

    assert job["spec"] == {
        **chart_job["spec"],
        "template": {
            **chart_job["spec"]["template"],
            "metadata": {
                "labels": {
                    **chart_job["spec"]["template"]["metadata"]["labels"],
                    RUN_ID_LABEL: RUN_ID,
                    RUN_KIND_LABEL: "train",
                }
            },
        },
    }
    assert chart_job["metadata"]["labels"].items() <= job["metadata"]["labels"].items()


def _api(rendered: tuple[dict[str, Any], ...]) -> dict[str, Any]:
    [deployment] = [
        d
        for d in of_kind(rendered, "Deployment")
        if d["metadata"]["labels"].get("app.kubernetes.io/component") == "api"
    ]
    return deployment


def test_the_api_reads_the_templates_where_the_chart_mounts_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rendered = objects("defaults")
    pod = _api(rendered)["spec"]["template"]["spec"]
    [container] = pod["containers"]
    for var in container["env"]:
        if "value" in var:
            monkeypatch.setenv(var["name"], str(var["value"]))
    settings = DataSettings()
    assert settings.runner == "kubernetes"
    [volume] = [
        v for v in pod["volumes"] if v.get("configMap", {}).get("name") == "prodcat-job-templates"
    ]
    [mount] = [m for m in container["volumeMounts"] if m["name"] == volume["name"]]
    assert str(settings.job_template_dir) == mount["mountPath"]


def test_the_api_may_do_what_the_runner_does() -> None:
    rendered = objects("defaults")
    service_account = _api(rendered)["spec"]["template"]["spec"]["serviceAccountName"]
    bindings = [
        b
        for b in of_kind(rendered, "RoleBinding")
        if any(s["name"] == service_account for s in b["subjects"])
    ]
    granted: set[tuple[str, str, str]] = set()
    for binding in bindings:
        role = named(rendered, "Role", binding["roleRef"]["name"])
        for rule in role["rules"]:
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    granted |= {(group, resource, verb) for verb in rule["verbs"]}
    needed = {(g, r, verb) for (g, r), verbs in runner_permissions().items() for verb in verbs}
    assert needed <= granted


def _model_health_args(kind: str) -> list[str]:
    if kind == "monitor":
        return monitor_args("models:/prodcat@champion", "1h", 100)
    return retrain_args("ds-0123456789ab", "linear", {"c": 0.5}, promote=False)


def _with_args(job: dict[str, Any], args: list[str]) -> dict[str, Any]:
    """`job` with its containers' args set to the run's steps (init containers first)."""
    out = copy.deepcopy(job)
    pod = out["spec"]["template"]["spec"]
    containers = [*pod.get("initContainers", []), *pod["containers"]]
    for container, step in zip(containers, split_steps(args), strict=True):
        container["args"] = step
    return out


@pytest.mark.parametrize("kind", ["monitor", "retrain"])
def test_model_health_runs_are_the_charts_jobs(kind: str) -> None:
    """A monitor or retrain run started by the API is the chart's Job but for its name, run
    labels and args; a retrain run's three steps land in preprocess, train and run, in order."""
    template = job_templates(objects("model-health"))[kind]
    args = _model_health_args(kind)
    job = runner_job(template, kind, args)

    kubernetes_validate.validate(job, "1.31", strict=True)
    assert job["metadata"]["name"] == f"prodcat-{kind}-{RUN_ID}"
    expected = _with_args(template, args)
    expected["metadata"]["name"] = job["metadata"]["name"]
    for meta in (expected["metadata"], expected["spec"]["template"]["metadata"]):
        meta["labels"].update({RUN_ID_LABEL: RUN_ID, RUN_KIND_LABEL: kind})
    assert job == expected
    assert template["metadata"]["labels"]["app.kubernetes.io/component"] == kind
    pod = job["spec"]["template"]["spec"]
    if kind == "retrain":
        steps = [c["args"][:2] for c in [*pod["initContainers"], *pod["containers"]]]
        assert steps == [["data", "preprocess"], ["train", "--prepared"], ["evaluate", "--model"]]
        assert pod["containers"][0]["args"][-1] == "--no-promote"


@pytest.mark.parametrize(("kind", "cronjob"), [("monitor", "monitor"), ("retrain", "retrain")])
def test_a_model_health_run_equals_its_cronjobs_job(kind: str, cronjob: str) -> None:
    """The monitor CronJob and the retraining CronJob (retraining.kind retrain) run the Job the
    API's runner creates for that kind, with the chart's default args."""
    rendered = objects("model-health")
    cron = named(rendered, "CronJob", f"prodcat-{cronjob}")["spec"]["jobTemplate"]
    template = job_templates(rendered)[kind]
    pod = cron["spec"]["template"]["spec"]
    steps = [c["args"] for c in [*pod.get("initContainers", []), *pod["containers"]]]
    args = [a for step in steps for a in [*step, ";"]][:-1]
    job = runner_job(template, kind, args)
    assert job["spec"]["template"]["spec"] == pod
    assert {k: v for k, v in job["spec"].items() if k != "template"} == {
        k: v for k, v in cron["spec"].items() if k != "template"
    }
    assert cron["metadata"]["labels"].items() <= job["metadata"]["labels"].items()

"""The chart's model-health objects (modelHealth.*, scenario model-health): the predictor writes
its inference log where the monitor reads it, the data API gets its model-health settings and
the webhook's bearer token from a Secret, the retrain run is one Job of three steps, Alertmanager
reaches the webhook route (AlertmanagerConfig + NetworkPolicy) for the alerts labelled
action=retrain only; all of it is off by default."""

from __future__ import annotations

from typing import Any

import helm_python
import pytest

from tests.chart.render import RELEASE, render
from tests.chart.scenarios import (
    DEFAULTS,
    PASSWORD_VALUES,
    job_templates,
    named,
    objects,
    of_kind,
    scenario_path,
)

SCENARIO = "model-health"


def _env(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env", [])}


def _api(objs: tuple[dict[str, Any], ...]) -> dict[str, Any]:
    pod: dict[str, Any] = named(objs, "Deployment", f"{RELEASE}-api")["spec"]["template"]["spec"]
    [container] = pod["containers"]
    return dict(container)


def _predictor(objs: tuple[dict[str, Any], ...]) -> tuple[dict[str, Any], dict[str, Any]]:
    isvc = named(objs, "InferenceService", RELEASE)["spec"]["predictor"]
    [container] = isvc["containers"]
    return isvc, container


def test_model_health_is_off_by_default() -> None:
    objs = objects(DEFAULTS)
    assert set(job_templates(objs)) == {"train", "evaluate", "batch"}
    assert not of_kind(objs, "AlertmanagerConfig")
    assert [c["metadata"]["name"] for c in of_kind(objs, "CronJob")] == []
    _, predictor = _predictor(objs)
    assert "PREDICT_INFERENCE_LOG_URI" not in _env(predictor)
    assert {m["mountPath"] for m in predictor["volumeMounts"]} == {"/tmp"}
    api = _env(_api(objs))
    assert "DATA_RETRAIN_ON_ALERT" not in api
    # The API serves the latest report's gauges whenever a monitor wrote one.
    assert api["DATA_MONITORING_DIR"]["value"] == "/artifacts/monitoring"
    dashboards = [cm["metadata"]["name"] for cm in of_kind(objects("monitoring"), "ConfigMap")]
    assert f"{RELEASE}-dashboard-prodcat-model-health" in dashboards
    assert f"{RELEASE}-dashboard-prodcat-model-health" not in [
        cm["metadata"]["name"] for cm in of_kind(objects("all"), "ConfigMap")
    ]


def test_the_predictor_logs_where_the_monitor_and_the_api_read() -> None:
    objs = objects(SCENARIO)
    isvc, predictor = _predictor(objs)
    env = _env(predictor)
    uri = env["PREDICT_INFERENCE_LOG_URI"]["value"]
    assert uri == "/artifacts/inference-log"
    assert env["PREDICT_INFERENCE_LOG_TEXT"]["value"] == "full"
    [mount] = [m for m in predictor["volumeMounts"] if m["mountPath"] == "/artifacts"]
    [volume] = [v for v in isvc["volumes"] if v["name"] == mount["name"]]
    assert volume["persistentVolumeClaim"]["claimName"] == f"{RELEASE}-models"
    assert not mount.get("readOnly")  # the predictor appends to the log
    [monitor] = job_templates(objs)["monitor"]["spec"]["template"]["spec"]["containers"]
    assert _env(monitor)["MONITOR_LOG_URI"]["value"] == uri
    assert _env(monitor)["MONITOR_OUTPUT_DIR"]["value"] == "/artifacts/monitoring"
    assert _env(monitor)["MONITOR_FEEDBACK_DIR"]["value"] == "/data/feedback"
    api = _env(_api(objs))
    assert api["DATA_INFERENCE_LOG_URI"]["value"] == uri
    assert api["DATA_FEEDBACK_DIR"]["value"] == "/data/feedback"
    assert api["DATA_MONITORING_DIR"]["value"] == _env(monitor)["MONITOR_OUTPUT_DIR"]["value"]
    assert api["DATA_RETRAIN_REQUIRE_APPROVAL"]["value"] == "true"
    assert api["DATA_ALERT_WEBHOOK_TOKEN"]["valueFrom"]["secretKeyRef"] == {
        "name": "prodcat-alert-webhook",
        "key": "token",
    }


def test_the_retrain_job_runs_three_steps_in_one_pod() -> None:
    job = job_templates(objects(SCENARIO))["retrain"]
    pod = job["spec"]["template"]["spec"]
    steps = [*pod["initContainers"], *pod["containers"]]
    assert [c["name"] for c in steps] == ["preprocess", "train", "run"]
    assert [c["image"].split(":")[0].rsplit("-", 1)[1] for c in steps] == [
        "data",
        "train",
        "evaluate",
    ]
    writable = {c["name"]: not m.get("readOnly") for c in steps for m in c["volumeMounts"]
                if m["mountPath"] == "/data"}  # fmt: skip
    assert writable == {"preprocess": True, "train": False, "run": False}
    fail_fast = [
        r["onExitCodes"]["containerName"]
        for r in job["spec"]["podFailurePolicy"]["rules"]
        if r["action"] == "FailJob"
    ]
    assert sorted(fail_fast) == ["preprocess", "run", "train"]  # bad input is never retried
    assert steps[2]["args"][-1] == "--no-promote"  # the CronJob's run: approval required
    assert job["metadata"]["labels"]["app.kubernetes.io/component"] == "retrain"


def test_alertmanager_reaches_the_webhook_for_retrain_alerts_only() -> None:
    objs = objects(SCENARIO)
    [config] = of_kind(objs, "AlertmanagerConfig")
    [receiver] = config["spec"]["receivers"]
    [webhook] = receiver["webhookConfigs"]
    service = named(objs, "Service", f"{RELEASE}-api")
    port = service["spec"]["ports"][0]["port"]
    assert webhook["url"] == f"http://{RELEASE}-api.{RELEASE}.svc:{port}/alerts/alertmanager"
    assert webhook["httpConfig"]["authorization"]["credentials"] == {
        "name": "prodcat-alert-webhook",
        "key": "token",
    }
    assert config["spec"]["route"]["matchers"] == [
        {"name": "action", "matchType": "=", "value": "retrain"}
    ]
    [rule] = of_kind(objs, "PrometheusRule")
    retrain_alerts = {
        r["alert"]
        for g in rule["spec"]["groups"]
        for r in g["rules"]
        if r.get("labels", {}).get("action") == "retrain"
    }
    assert retrain_alerts == {"ProdcatModelDrift", "ProdcatModelAccuracyDrop"}
    policy = named(objs, "NetworkPolicy", f"{RELEASE}-api")
    peers = policy["spec"]["ingress"][0]["from"]
    assert {"app.kubernetes.io/name": "alertmanager"} in [
        p.get("podSelector", {}).get("matchLabels") for p in peers
    ]
    assert not [
        p
        for p in named(objects(DEFAULTS), "NetworkPolicy", f"{RELEASE}-api")["spec"]["ingress"][0][
            "from"
        ]
        if p.get("podSelector", {}).get("matchLabels") == {"app.kubernetes.io/name": "alertmanager"}
    ]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"modelHealth.alerts.tokenSecret": ""},
            "modelHealth.alerts.tokenSecret is required",
        ),
        (
            {"modelHealth.enabled": False, "modelHealth.alerts.retrainOnAlert": False},
            "retraining.kind=retrain needs modelHealth.enabled",
        ),
    ],
)
def test_a_half_configured_model_health_stops_the_install(
    overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(helm_python.HelmRenderError, match=message):
        render(scenario_path(SCENARIO), {**PASSWORD_VALUES, **overrides})

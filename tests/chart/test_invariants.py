"""Invariants every scenario keeps: labels, selectors, probes, security contexts, images from
values, no plaintext secret, RBAC, network policies, the one source of truth for run Jobs."""

from __future__ import annotations

import base64
import copy
import re
from pathlib import Path
from typing import Any

import helm_python
import pytest
import yaml

from tests.chart import validation
from tests.chart.render import CHART_DIR, Obj, render, render_templates
from tests.chart.runner_rbac import runner_permissions
from tests.chart.scenarios import (
    DEFAULTS,
    PASSWORD_VALUES,
    PASSWORDS,
    job_templates,
    named,
    objects,
    of_kind,
    pod_specs,
    scenario_names,
    scenario_path,
    values,
)

SCENARIOS = scenario_names()
APP_VERSION = str(yaml.safe_load((CHART_DIR / "Chart.yaml").read_text())["appVersion"])
STANDARD_LABELS = {
    "app.kubernetes.io/name": "prodcat",
    "app.kubernetes.io/instance": "prodcat",
    "app.kubernetes.io/version": APP_VERSION,
    "app.kubernetes.io/part-of": "prodcat",
    "app.kubernetes.io/managed-by": "Helm",
    "helm.sh/chart": f"prodcat-{yaml.safe_load((CHART_DIR / 'Chart.yaml').read_text())['version']}",
}
SELECTOR_KEYS = {
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/component",
}
BCRYPT_LINE = re.compile(r"^[^:\s]+:\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$")


def _labels_ok(labels: dict[str, str], where: str) -> None:
    for key, value in STANDARD_LABELS.items():
        assert labels.get(key) == value, f"{where}: label {key}={labels.get(key)!r}, want {value!r}"
    assert labels.get("app.kubernetes.io/component"), f"{where}: no app.kubernetes.io/component"


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_standard_labels_on_every_object_and_pod(scenario: str) -> None:
    objs = objects(scenario)
    for o in objs:
        _labels_ok(o["metadata"].get("labels", {}), f"{o['kind']}/{o['metadata']['name']}")
    for where, meta, _spec in pod_specs(objs):
        _labels_ok(meta.get("labels", {}), f"pods of {where}")
    for stage, job in job_templates(objs).items():
        _labels_ok(job["metadata"]["labels"], f"job-templates/{stage}.yaml")
        assert job["metadata"]["labels"]["app.kubernetes.io/component"] == stage


def _selector(o: Obj) -> dict[str, str]:
    if o["kind"] == "Service":
        return dict(o["spec"].get("selector") or {})
    return dict(o["spec"]["selector"]["matchLabels"])


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_selectors_are_name_instance_component(scenario: str) -> None:
    objs = objects(scenario)
    for o in objs:
        if o["kind"] not in {"Deployment", "Service", "PodDisruptionBudget"}:
            continue
        if o["kind"] == "Service" and o["spec"].get("type") == "ExternalName":
            assert "selector" not in o["spec"]
            continue
        selector = _selector(o)
        where = f"{o['kind']}/{o['metadata']['name']}"
        assert set(selector) == SELECTOR_KEYS, f"{where}: selector {selector}"
        assert selector["app.kubernetes.io/name"] == "prodcat"
        assert selector["app.kubernetes.io/instance"] == "prodcat"
    # Every selector matches the pods of exactly one workload.
    pods = {where: meta["labels"] for where, meta, _ in pod_specs(objs)}
    for o in objs:
        if o["kind"] in {"Deployment", "PodDisruptionBudget"} or (
            o["kind"] == "Service" and o["spec"].get("selector")
        ):
            selector = _selector(o)
            matched = [w for w, labels in pods.items() if selector.items() <= labels.items()]
            assert len(matched) == 1, f"{o['kind']}/{o['metadata']['name']} selects {matched}"
    for hpa in of_kind(objs, "HorizontalPodAutoscaler"):
        target = hpa["spec"]["scaleTargetRef"]
        named(objs, target["kind"], target["name"])


def _containers(spec: Obj) -> list[Obj]:
    return list(spec.get("initContainers", [])) + list(spec["containers"])


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_probes_on_every_long_running_container(scenario: str) -> None:
    for where, _meta, spec in pod_specs(objects(scenario)):
        if where.startswith(("job-templates/", "CronJob/")):
            continue  # run-to-completion pods: no probes
        for c in spec["containers"]:
            for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                assert probe in c, f"{where} container {c['name']}: no {probe}"


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_security_context_on_every_pod_and_container(scenario: str) -> None:
    for where, _meta, spec in pod_specs(objects(scenario)):
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True, where
        assert pod["runAsUser"] == 10001, where
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}, where
        volumes = {v["name"]: v for v in spec["volumes"]}
        assert "emptyDir" in volumes["tmp"], f"{where}: /tmp is not an emptyDir"
        for c in _containers(spec):
            sc = c["securityContext"]
            name = f"{where} container {c['name']}"
            assert sc["runAsNonRoot"] is True, name
            assert sc["runAsUser"] == 10001, name
            assert sc["readOnlyRootFilesystem"] is True, name
            assert sc["allowPrivilegeEscalation"] is False, name
            assert sc["capabilities"] == {"drop": ["ALL"]}, name
            assert sc["seccompProfile"] == {"type": "RuntimeDefault"}, name
            assert {"name": "tmp", "mountPath": "/tmp"} in c["volumeMounts"], name
            assert c.get("resources", {}).get("requests"), f"{name}: no requests"
        # Only the data API talks to the Kubernetes API.
        token = spec.get("automountServiceAccountToken")
        assert token is (where == "Deployment/prodcat-api"), f"{where}: automount {token}"


def _expected_images(vals: dict[str, Any]) -> set[str]:
    out = set()
    for key in ("data", "train", "evaluate", "predict", "monitor", "mlflow"):
        img = vals["images"][key]
        if img["digest"]:
            out.add(f"{img['repository']}@{img['digest']}")
        else:
            out.add(f"{img['repository']}:{img['tag'] or APP_VERSION}")
    return out


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_image_comes_from_values(scenario: str) -> None:
    expected = _expected_images(values(scenario))
    for where, _meta, spec in pod_specs(objects(scenario)):
        for c in _containers(spec):
            assert c["image"] in expected, f"{where} container {c['name']}: {c['image']}"


def test_images_follow_repository_tag_and_digest() -> None:
    digest = "sha256:" + "ab" * 32
    overrides = {
        "images.data.repository": "registry.example/prodcat/data",
        "images.data.tag": "1.2.3",
        "images.train.repository": "registry.example/prodcat/train",
        "images.train.digest": digest,
        "images.evaluate.repository": "registry.example/prodcat/evaluate",
        "images.predict.repository": "registry.example/prodcat/predict",
        "images.predict.tag": "abc123@" + digest,
        "images.mlflow.repository": "registry.example/mlflow",
        "retraining.enabled": True,
        **PASSWORD_VALUES,
    }
    objs = render([], overrides)
    images = {c["image"] for _w, _m, spec in pod_specs(objs) for c in _containers(spec)}
    assert images == {
        "registry.example/prodcat/data:1.2.3",
        f"registry.example/prodcat/train@{digest}",
        f"registry.example/prodcat/evaluate:{APP_VERSION}",
        f"registry.example/prodcat/predict:abc123@{digest}",
        "registry.example/mlflow:v3.17.2-full",
    }


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_no_plaintext_secret(scenario: str) -> None:
    objs = objects(scenario)
    text = yaml.safe_dump_all(list(objs))
    for role, password in PASSWORDS.items():
        assert password not in text, f"the {role} password is in the manifests"
        assert base64.b64encode(password.encode()).decode() not in text
    for secret in of_kind(objs, "Secret"):
        name = secret["metadata"]["name"]
        assert secret["type"] == "Opaque", name
        assert "stringData" not in secret, name
        assert set(secret["data"]) == {"auth"}, f"{name}: keys {set(secret['data'])}"
        role = secret["metadata"]["labels"]["prodcat.io/role"]
        htpasswd = base64.b64decode(secret["data"]["auth"]).decode()
        assert BCRYPT_LINE.match(htpasswd), f"{name}: not a bcrypt htpasswd line"
        assert htpasswd.split(":")[0] == values(scenario)["auth"][role]["username"]
    assert "PRIVATE KEY" not in text
    # Environment variables that look like credentials come from Secrets, never literals.
    for where, _meta, spec in pod_specs(objs):
        for c in _containers(spec):
            for env in c.get("env", []):
                if re.search(r"PASSWORD|SECRET|TOKEN|ACCESS_KEY|_URI$", env["name"]) and (
                    "value" in env
                ):
                    assert not re.search(r"://[^/]*:[^/]*@", env["value"]), f"{where}: {env}"
                    assert not re.search(r"PASSWORD|SECRET", env["name"]), where


def test_passwords_have_no_default() -> None:
    defaults = yaml.safe_load((CHART_DIR / "values.yaml").read_text())
    for role in ("users", "devs", "admins"):
        assert "password" not in defaults["auth"][role]
    role_schema = helm_python.Chart.load(CHART_DIR)
    with role_schema as chart:
        assert chart.schema is not None
        props = chart.schema["definitions"]["role"]["properties"]
    assert "default" not in props["password"]


@pytest.mark.parametrize(
    ("overrides", "missing"),
    [
        ({}, "auth.users.password is required"),
        ({"auth.users.password": PASSWORDS["users"]}, "auth.devs.password is required"),
        (
            {"monitoringLinks.enabled": True, **PASSWORD_VALUES, "auth.admins.password": None},
            "auth.admins.password is required",
        ),
    ],
)
def test_install_without_passwords_fails_clearly(overrides: dict[str, Any], missing: str) -> None:
    cleaned = {k: v for k, v in overrides.items() if v is not None}
    with pytest.raises(helm_python.HelmRenderError, match=re.escape(missing)):
        render([], cleaned)


@pytest.mark.parametrize(
    "overrides",
    [
        {"auth.enabled": False},
        {f"auth.{r}.existingSecret": f"{r}-htpasswd" for r in ("users", "devs")},
        {"ingress.enabled": False},
    ],
)
def test_no_password_needed_without_generated_secrets(overrides: dict[str, Any]) -> None:
    objs = render([], overrides)
    assert of_kind(objs, "Secret") == []


def test_default_install_has_optional_features_off() -> None:
    kinds = {o["kind"] for o in objects(DEFAULTS)}
    off = {
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "CronJob",
        "ServiceMonitor",
        "PrometheusRule",
        "Gateway",
        "HTTPRoute",
        "SecurityPolicy",
    }
    assert kinds & off == set()
    assert {"InferenceService", "Ingress", "NetworkPolicy", "Certificate"} <= kinds
    configmaps = [o["metadata"]["name"] for o in of_kind(objects(DEFAULTS), "ConfigMap")]
    assert configmaps == ["prodcat-job-templates"]  # no dashboards


@pytest.mark.parametrize("scenario", ["cronjob", "all"])
def test_cronjob_runs_exactly_the_runner_train_job(scenario: str) -> None:
    objs = objects(scenario)
    train = job_templates(objs)["train"]
    cron = named(objs, "CronJob", "prodcat-retrain")
    assert cron["spec"]["jobTemplate"]["spec"] == train["spec"]
    assert cron["spec"]["jobTemplate"]["metadata"]["labels"] == train["metadata"]["labels"]
    container = train["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == values(scenario)["jobs"]["train"]["args"]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_job_templates_are_complete_run_jobs(scenario: str) -> None:
    templates = job_templates(objects(scenario))
    model_health = {"monitor", "retrain"} if values(scenario)["modelHealth"]["enabled"] else set()
    assert set(templates) == {"train", "evaluate", "batch"} | model_health
    # The retrain Job (three steps in one pod) is checked in test_model_health.py.
    for stage, job in ((k, v) for k, v in templates.items() if k != "retrain"):
        assert job["apiVersion"] == "batch/v1"
        assert job["kind"] == "Job"
        assert job["metadata"]["name"] == "RUN_NAME"
        spec = job["spec"]
        # A batch Job retries per shard (index), the others as a whole.
        retries = "backoffLimitPerIndex" if stage == "batch" else "backoffLimit"
        for field in (retries, "activeDeadlineSeconds", "ttlSecondsAfterFinished"):
            assert isinstance(spec[field], int), f"{stage}: {field}"
        if stage == "batch":
            assert spec["completionMode"] == "Indexed"
            assert spec["completions"] == values(scenario)["jobs"]["batch"]["shards"]
            assert "backoffLimit" not in spec
        # Bad input (exit 2) is never retried; an eviction does not use up a retry.
        rules = spec["podFailurePolicy"]["rules"]
        assert rules[0]["action"] == "FailJob"
        assert rules[0]["onExitCodes"] == {"containerName": "run", "operator": "In", "values": [2]}
        assert rules[1]["action"] == "Ignore"
        assert rules[1]["onPodConditions"][0]["type"] == "DisruptionTarget"
        pod = spec["template"]["spec"]
        assert pod["restartPolicy"] == "Never"
        assert pod["serviceAccountName"] == "prodcat-run"
        (container,) = pod["containers"]
        assert container["name"] == "run"
        env = {e["name"]: e for e in container["env"]}
        if stage == "train":
            # The pod a retry starts has the same Job name, so the run resumes from its
            # checkpoint on the models volume.
            assert env["TRAIN_RUN_KEY"]["valueFrom"]["fieldRef"]["fieldPath"] == (
                "metadata.labels['batch.kubernetes.io/job-name']"
            )
            assert env["TRAIN_MODELS_DIR"]["value"].startswith("/artifacts/")
        assert container["command"] == ["prodcat"]
        assert container["args"][: 2 if stage == "batch" else 1] == (
            ["predict", "batch"] if stage == "batch" else [stage]
        )
        claims = {
            v["persistentVolumeClaim"]["claimName"]
            for v in pod["volumes"]
            if "persistentVolumeClaim" in v
        }
        vals = values(scenario)["persistence"]
        assert claims == {
            vals["data"]["existingClaim"] or "prodcat-data",
            vals["models"]["existingClaim"] or "prodcat-models",
        }
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["PRODCAT_LOG_FORMAT"] == "json"
        assert env["MLFLOW_TRACKING_URI"] == "http://prodcat-mlflow:5000"


def test_runner_job_equals_rendered_job() -> None:
    """What KubernetesRunner does (load the template, set the name, add the run id label and the
    args) gives a valid Job that differs from the rendered template in exactly those fields."""
    template = job_templates(objects(DEFAULTS))["train"]
    job = copy.deepcopy(template)
    job["metadata"]["name"] = "prodcat-train-r-20261126-abcdef"
    for meta in (job["metadata"], job["spec"]["template"]["metadata"]):
        meta["labels"]["prodcat.io/run-id"] = "r-20261126-abcdef"
        meta["labels"]["prodcat.io/run-kind"] = "train"
    args = ["train", "--prepared", "pp-1", "--family", "linear", "--set", "c=0.3"]
    job["spec"]["template"]["spec"]["containers"][0]["args"] = args
    validation.validate_builtin(job)
    restored = copy.deepcopy(job)
    restored["metadata"]["name"] = "RUN_NAME"
    for meta in (restored["metadata"], restored["spec"]["template"]["metadata"]):
        del meta["labels"]["prodcat.io/run-id"]
        del meta["labels"]["prodcat.io/run-kind"]
    restored["spec"]["template"]["spec"]["containers"][0]["args"] = template["spec"]["template"][
        "spec"
    ]["containers"][0]["args"]
    assert restored == template


def test_runner_permissions_are_read_from_its_calls() -> None:
    assert runner_permissions() == {
        ("batch", "jobs"): {"create", "get", "delete"},
        ("", "pods"): {"list"},
        ("", "pods/log"): {"get"},
    }


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_job_runner_rbac_is_exactly_what_the_runner_needs(scenario: str) -> None:
    """The Role grants the verbs the runner's code calls, no more and no less."""
    objs = objects(scenario)
    (role,) = of_kind(objs, "Role")
    granted: dict[tuple[str, str], set[str]] = {}
    for rule in role["rules"]:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                granted.setdefault((group, resource), set()).update(rule["verbs"])
    assert granted == runner_permissions()
    (binding,) = of_kind(objs, "RoleBinding")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": role["metadata"]["name"],
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "prodcat-api", "namespace": "prodcat"}
    ]
    api = named(objs, "Deployment", "prodcat-api")["spec"]["template"]["spec"]
    assert api["serviceAccountName"] == "prodcat-api"
    mounts = {m["mountPath"]: m["name"] for m in api["containers"][0]["volumeMounts"]}
    volumes = {v["name"]: v for v in api["volumes"]}
    assert volumes[mounts["/etc/prodcat/jobs"]]["configMap"]["name"] == "prodcat-job-templates"
    env = {e["name"]: e.get("value") for e in api["containers"][0]["env"]}
    assert env["DATA_RUNNER"] == "kubernetes"
    assert env["DATA_JOB_TEMPLATE_DIR"] == "/etc/prodcat/jobs"
    assert env["DATA_API_HOST"] == "0.0.0.0"


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_network_policies_default_deny_then_allow(scenario: str) -> None:
    objs = objects(scenario)
    policies = {o["metadata"]["name"]: o["spec"] for o in of_kind(objs, "NetworkPolicy")}
    deny = policies["prodcat-default-deny"]
    assert deny["policyTypes"] == ["Ingress", "Egress"]
    assert "ingress" not in deny
    assert "egress" not in deny
    assert deny["podSelector"]["matchLabels"] == {
        "app.kubernetes.io/name": "prodcat",
        "app.kubernetes.io/instance": "prodcat",
    }
    dns_ports = {(p["protocol"], p["port"]) for p in policies["prodcat-dns"]["egress"][0]["ports"]}
    assert dns_ports == {("UDP", 53), ("TCP", 53)}
    assert {"prodcat-api", "prodcat-predictor", "prodcat-runs", "prodcat-mlflow"} <= set(policies)
    # api -> kube-apiserver; api, predictor and runs -> mlflow:5000.
    api_ports = {p["port"] for rule in policies["prodcat-api"]["egress"] for p in rule["ports"]}
    assert {5000, 443, 6443} <= api_ports
    for name in ("prodcat-predictor", "prodcat-runs"):
        assert any(p["port"] == 5000 for rule in policies[name]["egress"] for p in rule["ports"])
    assert "ingress" not in policies["prodcat-runs"]  # nothing connects to a run
    # The edge reaches the api, the predictor and mlflow; Prometheus scrapes api and predictor.
    edge = values(scenario)["networkPolicy"]["edgePeers"]
    for name in ("prodcat-api", "prodcat-predictor", "prodcat-mlflow"):
        peers = policies[name]["ingress"][0]["from"]
        assert all(p in peers for p in edge), name


def _selects(selector: Obj, labels: dict[str, str]) -> bool:
    """A LabelSelector (matchLabels + matchExpressions) against a pod's labels."""
    if not selector.get("matchLabels", {}).items() <= labels.items():
        return False
    for e in selector.get("matchExpressions", []):
        key, op, vals = e["key"], e["operator"], e.get("values", [])
        ok = {
            "In": key in labels and labels[key] in vals,
            "NotIn": key not in labels or labels[key] not in vals,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[op]
        if not ok:
            return False
    return True


def _port_ok(rule: Obj, port: int, protocol: str = "TCP") -> bool:
    ports = rule.get("ports")
    return not ports or any(
        p.get("port") == port and p.get("protocol", "TCP") == protocol for p in ports
    )


def _pod_peer_ok(rule: Obj, direction: str, labels: dict[str, str]) -> bool:
    """A peer of the rule is a pod of this namespace with these labels (no namespaceSelector)."""
    peers = rule.get(direction)
    return not peers or any(
        "namespaceSelector" not in p and "podSelector" in p and _selects(p["podSelector"], labels)
        for p in peers
    )


def _allowed(
    policies: list[Obj], pod: dict[str, str], kind: str, peer: dict[str, str], port: int
) -> bool:
    """Does some policy selecting `pod` allow `kind` (egress/ingress) with `peer` on `port`?"""
    direction = "to" if kind == "egress" else "from"
    return any(
        _port_ok(rule, port) and _pod_peer_ok(rule, direction, peer)
        for p in policies
        if _selects(p["spec"]["podSelector"], pod)
        for rule in p["spec"].get(kind, [])
    )


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_network_policies_let_each_pod_reach_what_it_calls(scenario: str) -> None:
    """Evaluated on the rendered pods' labels, not on policy names: the data API reaches the
    kube-apiserver (443, 6443) and MLflow; every run Job (templates and CronJob) and every
    predictor pod (InferenceService or fallback) reaches MLflow; MLflow admits each of them;
    every pod resolves names."""
    objs = objects(scenario)
    policies = of_kind(objs, "NetworkPolicy")
    pods = {where: dict(meta["labels"]) for where, meta, _ in pod_specs(objs)}
    mlflow = pods.pop("Deployment/prodcat-mlflow")
    port = values(scenario)["mlflow"]["port"]
    clients = {w: labels for w, labels in pods.items()}
    assert {
        "Deployment/prodcat-api",
        "job-templates/train.yaml",
        "job-templates/evaluate.yaml",
    } <= (set(clients))
    assert any(w in clients for w in ("InferenceService/prodcat", "Deployment/prodcat-predictor"))
    for where, labels in clients.items():
        assert _allowed(policies, labels, "egress", mlflow, port), f"{where} -> mlflow:{port}"
        assert _allowed(policies, mlflow, "ingress", labels, port), f"mlflow admits {where}"
    for where, labels in {**clients, "mlflow": mlflow}.items():
        dns = [
            rule
            for p in policies
            if _selects(p["spec"]["podSelector"], labels)
            for rule in p["spec"].get("egress", [])
            if _port_ok(rule, 53, "UDP") and _port_ok(rule, 53, "TCP")
        ]
        assert dns, f"{where}: no DNS egress"
    api = clients["Deployment/prodcat-api"]
    server = values(scenario)["networkPolicy"]["kubeAPIServer"]
    cidrs = server["cidrs"] or server["fallbackCidrs"]  # no cluster to read the EndpointSlice of
    for api_port in (443, 6443):
        assert any(
            _port_ok(rule, api_port)
            and {p.get("ipBlock", {}).get("cidr") for p in rule.get("to", [])} >= set(cidrs)
            for p in policies
            if _selects(p["spec"]["podSelector"], api)
            for rule in p["spec"].get("egress", [])
        ), f"api -> kube-apiserver:{api_port}"
    # Nothing else may reach the kube-apiserver: no other pod has an ipBlock egress by default.
    for where, labels in clients.items():
        if where == "Deployment/prodcat-api":
            continue
        blocks = [
            peer
            for p in policies
            if _selects(p["spec"]["podSelector"], labels)
            for rule in p["spec"].get("egress", [])
            for peer in rule.get("to", [])
            if "ipBlock" in peer
        ]
        assert blocks == [], f"{where} may reach {blocks}"


@pytest.mark.parametrize(
    "overrides",
    [
        {"api.replicas": 2},
        {"api.autoscaling.enabled": True, "api.autoscaling.minReplicas": 1},
    ],
    ids=["replicas", "autoscaling"],
)
def test_several_api_replicas_require_the_run_database(overrides: dict[str, Any]) -> None:
    with pytest.raises(helm_python.HelmRenderError) as excinfo:
        render([], {**PASSWORD_VALUES, **overrides})
    message = str(excinfo.value)
    assert "api.database.existingSecret is required" in message
    assert "SQLite" in message
    assert "postgresql" in message


def _api_env(scenario: str) -> tuple[dict[str, Obj], dict[str, Obj]]:
    """The API container's env and volume mounts (by mount path)."""
    spec = named(objects(scenario), "Deployment", "prodcat-api")["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    return {e["name"]: e for e in container["env"]}, {
        m["mountPath"]: m for m in container["volumeMounts"]
    }


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_api_keeps_runs_on_the_data_volume_and_reads_models_read_only(scenario: str) -> None:
    env, mounts = _api_env(scenario)
    assert env["DATA_RUNS_DIR"]["value"] == "/data/runs"
    assert not mounts["/data"].get("readOnly"), "the run records and uploads are written there"
    assert env["DATA_MODELS_DIR"]["value"] == "/artifacts/models"
    assert mounts["/artifacts"]["readOnly"] is True
    assert env["DATA_JOB_TEMPLATE_DIR"]["value"] == "/etc/prodcat/jobs"
    assert not {"DATA_JOB_TEMPLATES_DIR", "DATA_JOB_TEMPLATE_PATH"} & set(env)
    vals = values(scenario)["api"]
    several = vals["autoscaling"]["enabled"] or vals["replicas"] > 1
    secret = vals["database"]["existingSecret"]
    assert several <= bool(secret)
    if secret:
        assert env["DATA_DATABASE_URL"] == {
            "name": "DATA_DATABASE_URL",
            "valueFrom": {"secretKeyRef": {"name": secret, "key": vals["database"]["urlKey"]}},
        }
    else:
        assert "DATA_DATABASE_URL" not in env
    # The bound on concurrent runs (Jobs) holds over every replica: one value for all of them.
    assert env["DATA_MAX_ACTIVE_RUNS"]["value"] == str(vals["maxActiveRuns"])


def test_api_replicas_scenario_runs_three_api_pods_on_postgres() -> None:
    objs = objects("api-replicas")
    assert named(objs, "Deployment", "prodcat-api")["spec"]["replicas"] == 3
    env, _ = _api_env("api-replicas")
    assert env["DATA_DATABASE_URL"]["valueFrom"]["secretKeyRef"]["name"] == "prodcat-api-db"
    policy = named(objs, "NetworkPolicy", "prodcat-api")
    assert any(_port_ok(rule, 5432) for rule in policy["spec"]["egress"] if rule.get("ports"))


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_path_in_env_is_on_a_mounted_volume(scenario: str) -> None:
    """The root filesystem is read-only: every absolute path a container is given lives on one of
    its mounts (KServe mounts /mnt/models itself when STORAGE_URI is set)."""
    for where, _meta, spec in pod_specs(objects(scenario)):
        for c in _containers(spec):
            mounts = [m["mountPath"] for m in c.get("volumeMounts", [])]
            env = {e["name"]: str(e["value"]) for e in c.get("env", []) if "value" in e}
            if "STORAGE_URI" in env:
                mounts.append("/mnt/models")
            for name, value in env.items():
                path = value.removeprefix("sqlite:///")
                if not path.startswith("/"):
                    continue
                assert any(path == m or path.startswith(m.rstrip("/") + "/") for m in mounts), (
                    f"{where} {c['name']}: {name}={value} is on the read-only root filesystem"
                )


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_routes_carry_their_roles_auth_rate_limits_and_tls(scenario: str) -> None:
    objs = objects(scenario)
    vals = values(scenario)
    secrets = {o["metadata"]["name"] for o in of_kind(objs, "Secret")}
    role_of = {
        "prodcat-predictor": "users",
        "prodcat-api": "devs",
        "prodcat-mlflow": "devs",
        "prodcat-grafana": "admins",
        "prodcat-prometheus": "admins",
    }
    for ing in of_kind(objs, "Ingress"):
        name = ing["metadata"]["name"]
        ann = ing["metadata"]["annotations"]
        role = role_of[name]
        assert ann["nginx.ingress.kubernetes.io/auth-type"] == "basic"
        secret = ann["nginx.ingress.kubernetes.io/auth-secret"]
        assert secret == (vals["auth"][role]["existingSecret"] or f"prodcat-auth-{role}")
        assert secret in secrets or vals["auth"][role]["existingSecret"], name
        assert ann["nginx.ingress.kubernetes.io/limit-rps"] == str(
            vals["ingress"]["rateLimit"]["rps"]
        )
        assert "nginx.ingress.kubernetes.io/limit-connections" in ann
        (tls,) = ing["spec"]["tls"]
        assert tls["secretName"] == (vals["tls"]["existingSecret"] or "prodcat-tls")
        backend = ing["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"]
        assert backend == name, f"{name} routes to {backend}"
    for policy in of_kind(objs, "SecurityPolicy"):
        role = policy["metadata"]["labels"]["prodcat.io/role"]
        targets = {t["name"] for t in policy["spec"]["targetRefs"]}
        assert targets == {n for n, r in role_of.items() if r == role} & {
            o["metadata"]["name"] for o in of_kind(objs, "HTTPRoute")
        }
        assert policy["spec"]["basicAuth"]["users"]["name"] == vals["auth"][role]["existingSecret"]


def test_gateway_without_existing_secrets_fails_clearly() -> None:
    with pytest.raises(helm_python.HelmRenderError, match=r"auth\.users\.existingSecret"):
        render([], {"gateway.enabled": True, **PASSWORD_VALUES})


def test_certificate_chain_and_hosts() -> None:
    objs = objects(DEFAULTS)
    (issuer,) = of_kind(objs, "ClusterIssuer")
    assert issuer["spec"] == {"selfSigned": {}}
    ca = named(objs, "Certificate", "prodcat-ca")
    assert ca["spec"]["isCA"] is True
    assert ca["spec"]["issuerRef"]["name"] == issuer["metadata"]["name"]
    ca_issuer = named(objs, "Issuer", "prodcat-ca")
    assert ca_issuer["spec"] == {"ca": {"secretName": "prodcat-ca"}}
    tls = named(objs, "Certificate", "prodcat-tls")
    assert tls["spec"]["issuerRef"] == {
        "name": "prodcat-ca",
        "kind": "Issuer",
        "group": "cert-manager.io",
    }
    hosts = {h for ing in of_kind(objs, "Ingress") for h in ing["spec"]["tls"][0]["hosts"]}
    assert hosts == set(tls["spec"]["dnsNames"])


def test_kserve_and_fallback_predictor() -> None:
    on = objects("kserve-on")
    (isvc,) = of_kind(on, "InferenceService")
    assert isvc["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "Standard"
    (container,) = isvc["spec"]["predictor"]["containers"]
    assert container["name"] == "kserve-container"
    assert container["args"] == ["predict", "serve"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["PREDICT_MODEL_SOURCE"] == "/mnt/models"
    assert env["STORAGE_URI"].startswith("pvc://")
    default_env = {
        e["name"]: e.get("value")
        for e in of_kind(objects(DEFAULTS), "InferenceService")[0]["spec"]["predictor"][
            "containers"
        ][0]["env"]
    }
    assert default_env["PREDICT_MODEL_SOURCE"] == "models:/prodcat@champion"
    assert "STORAGE_URI" not in default_env
    off = objects("kserve-off")
    assert of_kind(off, "InferenceService") == []
    deployment = named(off, "Deployment", "prodcat-predictor")
    assert deployment["spec"]["template"]["spec"]["containers"][0]["args"] == ["predict", "serve"]
    service = named(off, "Service", "prodcat-predictor")
    assert service["spec"]["ports"][0]["targetPort"] == 8080


def test_mlflow_backends() -> None:
    default = named(objects(DEFAULTS), "Deployment", "prodcat-mlflow")["spec"]["template"]["spec"]
    env = {e["name"]: e for e in default["containers"][0]["env"]}
    assert env["MLFLOW_BACKEND_STORE_URI"]["value"] == "sqlite:////mlflow/mlflow.db"
    assert env["MLFLOW_ARTIFACTS_DESTINATION"]["value"] == "/mlflow/artifacts"
    assert "prodcat-mlflow:*" in env["MLFLOW_SERVER_ALLOWED_HOSTS"]["value"].split(",")
    pg = named(objects("postgres-s3"), "Deployment", "prodcat-mlflow")["spec"]["template"]["spec"]
    env = {e["name"]: e for e in pg["containers"][0]["env"]}
    assert env["MLFLOW_BACKEND_STORE_URI"]["valueFrom"]["secretKeyRef"] == {
        "name": "prodcat-mlflow-db",
        "key": "uri",
    }
    assert env["MLFLOW_ARTIFACTS_DESTINATION"]["value"].startswith("s3://")
    assert env["AWS_SECRET_ACCESS_KEY"]["valueFrom"]["secretKeyRef"]["name"] == "prodcat-mlflow-s3"
    assert not any("persistentVolumeClaim" in v for v in pg["volumes"])


def test_existing_claims_and_tls_secret_are_used() -> None:
    objs = objects("existing-secrets")
    assert of_kind(objs, "PersistentVolumeClaim") == []
    assert of_kind(objs, "Certificate") == []
    assert of_kind(objs, "Secret") == []
    mlflow = named(objs, "Deployment", "prodcat-mlflow")["spec"]["template"]["spec"]
    claims = {
        v["persistentVolumeClaim"]["claimName"]
        for v in mlflow["volumes"]
        if "persistentVolumeClaim" in v
    }
    assert claims == {"shared-mlflow"}


def test_templates_render_every_file_without_leftovers() -> None:
    """No template leaves `<no value>` or an unrendered Helm action in its output (the Prometheus
    and Grafana `{{ $value }}` / `{{route}}` placeholders are meant to stay)."""
    for scenario in ("all", DEFAULTS):
        rendered = render_templates(scenario_path(scenario), PASSWORD_VALUES)
        for path, text in rendered.items():
            assert "<no value>" not in text, path
            for leftover in (".Values", "{{-", "-}}", 'include "', ".Release"):
                assert leftover not in text, f"{path}: {leftover}"


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_the_data_api_runner_builds_valid_jobs_from_the_rendered_templates(
    scenario: str, tmp_path: Path
) -> None:
    """The real KubernetesRunner code (prodcat_data) loads the ConfigMap's files as the pod sees
    them and builds each run's Job: valid for Kubernetes 1.31 and equal to the template but for
    the name, the run labels and the args."""
    runner = pytest.importorskip(
        "prodcat_data.runners.kubernetes", reason="the prodcat-data member is not installed"
    )
    cm = named(objects(scenario), "ConfigMap", "prodcat-job-templates")
    for key, text in cm["data"].items():
        (tmp_path / key).write_text(text, encoding="utf-8")
    templates = runner.load_job_templates(tmp_path)
    for stage, template in templates.items():
        args = [stage, "--prepared", "pp-0123456789ab"]
        if stage == "retrain":
            base = pytest.importorskip("prodcat_data.runners.base")
            args = base.retrain_args("ds-0123456789ab", "linear", {}, promote=False)
        if stage == "batch":  # its shard count is the template's completions: nothing changes
            args = template["spec"]["template"]["spec"]["containers"][0]["args"]
        job = runner.build_job(template, stage, "r-0123456789ab", args)
        validation.validate_builtin(job)
        assert job["metadata"]["name"] == f"prodcat-{stage}-r-0123456789ab"
        assert (
            job["spec"]["template"]["metadata"]["labels"]["prodcat.io/run-id"] == "r-0123456789ab"
        )
        back = copy.deepcopy(job)
        back["metadata"]["name"] = "RUN_NAME"
        for meta in (back["metadata"], back["spec"]["template"]["metadata"]):
            for label in ("prodcat.io/run-id", "prodcat.io/run-kind"):
                del meta["labels"][label]
        rendered = job_templates(objects(scenario))[stage]
        for key in ("initContainers", "containers"):
            for built, original in zip(
                back["spec"]["template"]["spec"].get(key, []),
                rendered["spec"]["template"]["spec"].get(key, []),
                strict=True,
            ):
                built["args"] = original["args"]
        assert back == rendered

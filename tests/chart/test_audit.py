"""The chart audit (issue 16): Pod Security `restricted` on every pod, CPU limits and the
CPUs each prodcat container plans its threads for, egress without the Internet, and the Gateway
API routes carrying the Ingress's limits."""

from __future__ import annotations

import copy
from typing import Any

import helm_python
import pytest

from tests.chart import scenarios
from tests.chart.render import Obj, render

SCENARIOS = scenarios.scenario_names()


def _containers(spec: Obj) -> list[Obj]:
    return list(spec.get("initContainers", [])) + list(spec["containers"])


# Pod Security Standards, `restricted` profile (Kubernetes 1.31): what the admission controller of
# a namespace labelled pod-security.kubernetes.io/enforce=restricted checks on each pod.
RESTRICTED_VOLUME_TYPES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}
BASELINE_CAPABILITIES = {"NET_BIND_SERVICE"}  # the only capability `restricted` lets a pod add
ALLOWED_SECCOMP = {"RuntimeDefault", "Localhost"}


def restricted_violations(spec: Obj) -> list[str]:
    """What keeps a pod spec out of a Pod Security `restricted` namespace (empty: admitted)."""
    out = []
    pod = spec.get("securityContext", {})
    for host in ("hostNetwork", "hostPID", "hostIPC", "hostUsers"):
        if spec.get(host) is (host != "hostUsers"):
            out.append(f"{host} is {spec[host]}")
    for v in spec.get("volumes", []):
        kinds = set(v) - {"name"}
        if not kinds <= RESTRICTED_VOLUME_TYPES:
            out.append(f"volume {v['name']}: {sorted(kinds)} not allowed")
    if pod.get("runAsUser") == 0:
        out.append("pod runAsUser 0")
    if pod.get("sysctls"):
        out.append("pod sysctls")
    for c in _containers(spec):
        sc, name = c.get("securityContext", {}), f"container {c['name']}"
        if sc.get("privileged"):
            out.append(f"{name}: privileged")
        if sc.get("allowPrivilegeEscalation") is not False:
            out.append(f"{name}: allowPrivilegeEscalation is not false")
        if sc.get("runAsNonRoot", pod.get("runAsNonRoot")) is not True:
            out.append(f"{name}: runAsNonRoot is not true")
        if sc.get("runAsUser") == 0:
            out.append(f"{name}: runAsUser 0")
        seccomp = sc.get("seccompProfile", pod.get("seccompProfile", {})).get("type")
        if seccomp not in ALLOWED_SECCOMP:
            out.append(f"{name}: seccompProfile {seccomp}")
        caps = sc.get("capabilities", {})
        if "ALL" not in caps.get("drop", []):
            out.append(f"{name}: capabilities do not drop ALL")
        if not set(caps.get("add", [])) <= BASELINE_CAPABILITIES:
            out.append(f"{name}: adds {caps['add']}")
        if any(p.get("hostPort") for p in c.get("ports", [])):
            out.append(f"{name}: hostPort")
        if sc.get("procMount", "Default") != "Default":
            out.append(f"{name}: procMount {sc['procMount']}")
        apparmor = sc.get("appArmorProfile", {}).get("type", "RuntimeDefault")
        if apparmor == "Unconfined":
            out.append(f"{name}: AppArmor unconfined")
    return out


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_pod_is_admitted_by_pod_security_restricted(scenario: str) -> None:
    """k8s/README.md labels the namespace pod-security.kubernetes.io/enforce=restricted: every
    pod the chart can start (Deployments, run Jobs, CronJob, InferenceService) must pass."""
    for where, _meta, spec in scenarios.pod_specs(scenarios.objects(scenario)):
        assert restricted_violations(spec) == [], where


def test_the_restricted_check_can_fail() -> None:
    ok: Obj = {
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "volumes": [{"name": "tmp", "emptyDir": {}}],
        "containers": [
            {
                "name": "c",
                "securityContext": {
                    "allowPrivilegeEscalation": False,
                    "capabilities": {"drop": ["ALL"]},
                },
            }
        ],
    }
    assert restricted_violations(ok) == []
    bad: Obj = copy.deepcopy(ok)
    bad["hostNetwork"] = True
    bad["volumes"].append({"name": "host", "hostPath": {"path": "/"}})
    bad["containers"][0]["securityContext"]["capabilities"]["add"] = ["SYS_ADMIN"]
    del bad["securityContext"]["seccompProfile"]
    assert len(restricted_violations(bad)) == 4


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_container_has_cpu_and_memory_limits_and_plans_threads_from_them(
    scenario: str,
) -> None:
    """A pod without a CPU limit sees the node's cores: every container is bounded, and every
    prodcat container is told its CPUs (PRODCAT_CPUS from its limit) through a resourceFieldRef."""
    for where, _meta, spec in scenarios.pod_specs(scenarios.objects(scenario)):
        for c in spec["containers"]:
            name = f"{where} container {c['name']}"
            limits = c["resources"].get("limits", {})
            assert {"cpu", "memory"} <= set(limits), f"{name}: limits {limits}"
            env = {e["name"]: e for e in c.get("env", [])}
            if "prodcat" not in c["command"]:
                continue
            assert env["PRODCAT_CPUS"]["valueFrom"] == {
                "resourceFieldRef": {"resource": "limits.cpu", "divisor": "1"}
            }, name


@pytest.mark.parametrize(
    ("resources", "field"),
    [
        ({"requests": {"cpu": "500m"}, "limits": {"cpu": "3"}}, "limits.cpu"),
        # null removes a default (helm merges the given resources into the chart's).
        ({"requests": {"cpu": "500m"}, "limits": {"cpu": None}}, "requests.cpu"),
        ({"requests": {"cpu": None}, "limits": {"cpu": None}}, None),
    ],
    ids=["limit", "request-only", "neither"],
)
def test_cpus_come_from_the_limit_else_the_request(
    resources: dict[str, Any], field: str | None
) -> None:
    stages = ("api", "predictor", "jobs.train", "jobs.evaluate", "jobs.batch")
    objs = render(
        [], {**scenarios.PASSWORD_VALUES, **{f"{k}.resources": resources for k in stages}}
    )
    checked = 0
    for where, _meta, spec in scenarios.pod_specs(objs):
        for c in spec["containers"]:
            if "prodcat" not in c["command"]:
                continue
            env = {e["name"]: e for e in c.get("env", [])}
            expected = {"resourceFieldRef": {"resource": field, "divisor": "1"}} if field else None
            assert env.get("PRODCAT_CPUS", {}).get("valueFrom") == expected, where
            checked += 1
    assert checked >= 4


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_no_pod_may_reach_the_internet_by_default(scenario: str) -> None:
    """Egress is to named pods, DNS and the API server's addresses: no ipBlock is the whole
    Internet unless a user adds one through extraEgress."""
    for policy in scenarios.of_kind(scenarios.objects(scenario), "NetworkPolicy"):
        for rule in policy["spec"].get("egress", []):
            for peer in rule.get("to", []):
                cidr = peer.get("ipBlock", {}).get("cidr")
                assert cidr not in ("0.0.0.0/0", "::/0"), policy["metadata"]["name"]


def test_the_api_server_address_is_a_value() -> None:
    objs = render(
        [],
        {
            **scenarios.PASSWORD_VALUES,
            "networkPolicy.kubeAPIServer.cidrs": ["172.18.0.2/32"],
            "networkPolicy.kubeAPIServer.ports": [6443],
        },
    )
    egress = scenarios.named(objs, "NetworkPolicy", "prodcat-api")["spec"]["egress"]
    blocks = [rule for rule in egress if any("ipBlock" in p for p in rule["to"])]
    assert blocks == [
        {
            "to": [{"ipBlock": {"cidr": "172.18.0.2/32"}}],
            "ports": [{"protocol": "TCP", "port": 6443}],
        }
    ]
    with pytest.raises(helm_python.HelmValuesError, match="kubeAPIServer"):
        render(
            [], {**scenarios.PASSWORD_VALUES, "networkPolicy.kubeAPIServer.cidrs": ["0.0.0.0/0"]}
        )


NGINX_TO_QUANTITY = {"k": "Ki", "m": "Mi", "g": "Gi"}


def _check_gateway_limits(objs: tuple[Obj, ...], vals: dict[str, Any]) -> None:
    """Every HTTPRoute has the Ingress's limits: one BackendTrafficPolicy with the same requests
    per second per client address, and the predictor's body size; a created Gateway has its
    ClientTrafficPolicy (header timeout, connections)."""
    policies: dict[str, Obj] = {}
    for policy in scenarios.of_kind(objs, "BackendTrafficPolicy"):
        (target,) = policy["spec"]["targetRefs"]
        assert target["kind"] == "HTTPRoute"
        policies[target["name"]] = policy["spec"]
    routes = {o["metadata"]["name"] for o in scenarios.of_kind(objs, "HTTPRoute")}
    assert set(policies) == routes
    for name, spec in policies.items():
        (rule,) = spec["rateLimit"]["local"]["rules"]
        assert rule["clientSelectors"] == [
            {"sourceCIDR": {"type": "Distinct", "value": "0.0.0.0/0"}}
        ], name
        assert rule["limit"] == {"requests": vals["ingress"]["rateLimit"]["rps"], "unit": "Second"}
        if name == "prodcat-predictor":
            size = str(vals["ingress"]["predictorBodySize"]).lower()
            quantity = size[:-1] + NGINX_TO_QUANTITY[size[-1]]
            assert spec["requestBuffer"] == {"limit": quantity}, name
        else:
            assert "requestBuffer" not in spec, f"{name}: uploads would be held in Envoy's memory"
    gateways = scenarios.of_kind(objs, "Gateway")
    clients = scenarios.of_kind(objs, "ClientTrafficPolicy")
    assert [c["spec"]["targetRefs"][0]["name"] for c in clients] == [
        g["metadata"]["name"] for g in gateways
    ]
    for client in clients:
        limits = vals["gateway"]["limits"]
        assert (
            client["spec"]["timeout"]["http"]["requestHeadersReceivedTimeout"]
            == (limits["headersTimeout"])
        )
        assert client["spec"]["connection"]["connectionLimit"]["value"] == limits["maxConnections"]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_gateway_routes_carry_the_ingress_limits(scenario: str) -> None:
    _check_gateway_limits(scenarios.objects(scenario), scenarios.values(scenario))


def test_gateway_limits_follow_the_ingress_values() -> None:
    objs = tuple(
        render(
            [scenarios.scenario_path("gateway")[0]],
            {
                **scenarios.PASSWORD_VALUES,
                "ingress.rateLimit.rps": 7,
                "ingress.predictorBodySize": "2g",
                "gateway.create": False,
                "gateway.parentRef": {"name": "shared-gateway", "namespace": "edge"},
            },
        )
    )
    assert (
        scenarios.of_kind(objs, "ClientTrafficPolicy") == []
    )  # the shared Gateway is not this chart's
    assert len(scenarios.of_kind(objs, "BackendTrafficPolicy")) == 3
    _check_gateway_limits(
        objs,
        scenarios.values("gateway")
        | {"ingress": {"rateLimit": {"rps": 7}, "predictorBodySize": "2g"}},
    )

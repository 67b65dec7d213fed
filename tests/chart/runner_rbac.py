"""What the data API's KubernetesRunner asks of the Kubernetes API, read from its code: the RBAC
the chart grants it must be exactly that."""

from __future__ import annotations

import ast
import re

from tests.chart.render import REPO_ROOT

RUNNER_SOURCE = REPO_ROOT / "services/data/src/prodcat_data/runners/kubernetes.py"
# kubernetes-client method prefix -> the RBAC verb its request needs.
CLIENT_VERBS = {
    "create": "create",
    "read": "get",
    "list": "list",
    "delete": "delete",
    "patch": "patch",
    "replace": "update",
}
CLIENT_APIS = {"batch": "batch", "core": ""}  # the runner's attribute -> API group


def runner_permissions() -> dict[tuple[str, str], set[str]]:
    """(API group, resource) -> verbs of every kubernetes-client method the KubernetesRunner
    uses (`self.batch.read_namespaced_job` -> ("batch", "jobs"): {"get"}), read from its code."""
    found: dict[tuple[str, str], set[str]] = {}
    for node in ast.walk(ast.parse(RUNNER_SOURCE.read_text(encoding="utf-8"))):
        if not (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Attribute)
            and node.value.attr in CLIENT_APIS
        ):
            continue
        match = re.fullmatch(r"([a-z]+)_namespaced_([a-z_]+)", node.attr)
        assert match, f"{RUNNER_SOURCE.name}: unknown client method {node.attr}"
        verb, kind = CLIENT_VERBS[match[1]], match[2].split("_")
        resource = "/".join([kind[0] + "s", *kind[1:]])  # pod_log -> pods/log
        found.setdefault((CLIENT_APIS[node.value.attr], resource), set()).add(verb)
    return found

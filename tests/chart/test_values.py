"""values.yaml is documented (helm-docs `# --` comments) and values.schema.json is strict: values
that break it are rejected before anything renders."""

from __future__ import annotations

import json
import re
from typing import Any

import helm_python
import pytest

from tests.chart.render import CHART_DIR, render
from tests.chart.scenarios import PASSWORD_VALUES

KEY = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z][A-Za-z0-9]*):(?P<rest>.*)$")


def test_every_value_is_documented_and_camel_case() -> None:
    """Each key has a `# --` comment right above it, unless it only groups documented keys
    (its own children) or sits inside a documented block (an object documented as a whole)."""
    lines = (CHART_DIR / "values.yaml").read_text(encoding="utf-8").splitlines()
    undocumented = []
    documented_block_indent: int | None = None
    for i, line in enumerate(lines):
        m = KEY.match(line)
        if not m:
            continue
        indent = len(m["indent"])
        if documented_block_indent is not None and indent > documented_block_indent:
            continue
        documented_block_indent = None
        assert re.fullmatch(r"[a-z][A-Za-z0-9]*", m["key"]), (
            f"line {i + 1}: {m['key']} not camelCase"
        )
        previous = lines[i - 1].strip() if i else ""
        if previous.startswith("# --"):
            documented_block_indent = indent
            continue
        following = next(
            (x for x in lines[i + 1 :] if x.strip() and not x.strip().startswith("#")), ""
        )
        is_parent = not m["rest"].strip() and len(following) - len(following.lstrip()) > indent
        if not is_parent:
            undocumented.append(f"line {i + 1}: {m['key']}")
    assert undocumented == []


def test_schema_is_strict_at_every_level() -> None:
    schema = json.loads((CHART_DIR / "values.schema.json").read_text(encoding="utf-8"))

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            if node.get("type") == "object" and "properties" in node:
                assert node.get("additionalProperties") is False, f"{where} is open"
            for key, child in node.items():
                walk(child, f"{where}/{key}")
        elif isinstance(node, list):
            for n, child in enumerate(node):
                walk(child, f"{where}/{n}")

    walk(schema, "#")


BAD_VALUES: list[tuple[dict[str, Any], str]] = [
    ({"replicaCount": 2}, "additional properties 'replicaCount' not allowed"),
    ({"api.replicas": -1}, "/api/replicas"),
    ({"api.replicas": "two"}, "/api/replicas"),
    ({"images.data.tag": "latest please"}, "/images/data/tag"),
    ({"images.train.digest": "md5:1234"}, "/images/train/digest"),
    ({"images.pullPolicy": "Sometimes"}, "/images/pullPolicy"),
    ({"predictor.kserve.deploymentMode": "Serverful"}, "/predictor/kserve/deploymentMode"),
    ({"predictor.topK": 30}, "/predictor/topK"),
    ({"predictor.modelSource": "champion"}, "/predictor/modelSource"),
    ({"containerSecurityContext.readOnlyRootFilesystem": False}, "readOnlyRootFilesystem"),
    ({"containerSecurityContext.allowPrivilegeEscalation": True}, "allowPrivilegeEscalation"),
    ({"podSecurityContext.runAsNonRoot": False}, "runAsNonRoot"),
    ({"auth.users.password": "short"}, "/auth/users/password"),
    ({"auth.users.username": "a:b"}, "/auth/users/username"),
    ({"mlflow.backendStore.type": "mysql"}, "/mlflow/backendStore/type"),
    ({"mlflow.artifacts.s3.destination": "gs://bucket"}, "/mlflow/artifacts/s3/destination"),
    ({"networkPolicy.kubeAPIServer.cidrs": ["everywhere"]}, "/networkPolicy/kubeAPIServer/cidrs"),
    ({"monitoring.rules.lowConfidence": 0.55}, "/monitoring/rules/lowConfidence"),
    ({"retraining.concurrencyPolicy": "Sometimes"}, "/retraining/concurrencyPolicy"),
    ({"hosts.predictor": "Not A Host"}, "/hosts/predictor"),
    ({"persistence.data.accessModes": ["ReadWriteAlways"]}, "/persistence/data/accessModes"),
    ({"tls.certManager.issuerRef": {"name": "x", "kind": "Vault"}}, "/tls/certManager/issuerRef"),
    ({"logLevel": "LOUD"}, "/logLevel"),
]


@pytest.mark.parametrize(("overrides", "where"), BAD_VALUES, ids=[w for _, w in BAD_VALUES])
def test_values_breaking_the_schema_are_rejected(overrides: dict[str, Any], where: str) -> None:
    with pytest.raises(helm_python.HelmValuesError) as excinfo:
        render([], {**PASSWORD_VALUES, **overrides})
    assert where in str(excinfo.value)


def test_the_schema_accepts_the_documented_alternatives() -> None:
    ok = {
        **PASSWORD_VALUES,
        "images.predict.digest": "sha256:" + "0" * 64,
        "predictor.modelSource": "/mnt/models",
        "predictor.storageUri": "s3://models/prodcat/champion",
        "tls.certManager.selfSignedCA": False,
        "tls.certManager.issuerRef": {"name": "le", "kind": "ClusterIssuer"},
        "predictor.pdb.minAvailable": "50%",
        "api.resources": {"requests": {"cpu": 1, "memory": "1Gi"}, "limits": {"memory": "2Gi"}},
    }
    assert render([], ok)

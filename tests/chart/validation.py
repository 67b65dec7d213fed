"""Strict validation of rendered objects: built-in kinds with kubernetes_validate (Kubernetes 1.31,
strict schemas: an unknown field fails, a missing schema fails), custom resources with the offline
JSON Schemas of ../shared/k8s-schemas (draft-07, no format checker)."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate

from tests.chart.render import REPO_ROOT

KUBERNETES_VERSION = "1.31"
SHARED = (REPO_ROOT / ".." / "shared").resolve()
SCHEMAS = SHARED / "k8s-schemas"
SHARED_MISSING = (
    f"{SCHEMAS} is absent: the offline CRD and skaffold schemas live in ../shared/k8s-schemas "
    "beside the repository; custom resources and skaffold.yaml cannot be validated without them"
)

# API groups served by Kubernetes itself ("" is the core group).
BUILTIN_GROUPS = frozenset(
    {
        "",
        "apps",
        "batch",
        "autoscaling",
        "policy",
        "networking.k8s.io",
        "rbac.authorization.k8s.io",
        "storage.k8s.io",
        "scheduling.k8s.io",
        "coordination.k8s.io",
        "discovery.k8s.io",
        "admissionregistration.k8s.io",
        "apiextensions.k8s.io",
        "certificates.k8s.io",
        "node.k8s.io",
    }
)


def group_version(obj: dict[str, Any]) -> tuple[str, str]:
    api_version = str(obj["apiVersion"])
    if "/" in api_version:
        group, version = api_version.split("/", 1)
        return group, version
    return "", api_version


def is_builtin(obj: dict[str, Any]) -> bool:
    return group_version(obj)[0] in BUILTIN_GROUPS


def describe(obj: dict[str, Any]) -> str:
    return f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')} ({obj.get('apiVersion')})"


def validate_builtin(obj: dict[str, Any]) -> None:
    """Raises (test failure) on an invalid object or a kind/version with no schema for 1.31."""
    try:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.SchemaNotFoundError as e:
        raise AssertionError(f"{describe(obj)}: no Kubernetes {KUBERNETES_VERSION} schema") from e
    except kubernetes_validate.ValidationError as e:
        raise AssertionError(f"{describe(obj)}: {e.message} at {list(e.path)}") from e


def crd_schema_path(obj: dict[str, Any]) -> Path:
    group, version = group_version(obj)
    return SCHEMAS / "jsonschema" / f"{str(obj['kind']).lower()}-{group}-{version}.json"


@functools.cache
def _load_validator(path: Path) -> jsonschema.Draft7Validator:
    schema = json.loads(path.read_text(encoding="utf-8"))
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def validate_custom(obj: dict[str, Any]) -> None:
    """Validates a custom resource against its offline schema; a missing schema fails."""
    path = crd_schema_path(obj)
    if not path.is_file():
        raise AssertionError(f"{describe(obj)}: no offline schema {path.name} in {path.parent}")
    errors = sorted(_load_validator(path).iter_errors(obj), key=lambda e: list(e.path))
    if errors:
        lines = [f"{list(e.path)}: {e.message[:300]}" for e in errors[:5]]
        raise AssertionError(f"{describe(obj)} does not match {path.name}:\n" + "\n".join(lines))


@functools.cache
def skaffold_validator() -> jsonschema.Draft7Validator:
    return _load_validator(SCHEMAS / "skaffold" / "v4beta14.json")

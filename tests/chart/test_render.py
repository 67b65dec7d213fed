"""The chart renders for its defaults and every CI scenario, and every object it renders is valid:
built-in kinds against the strict Kubernetes 1.31 schemas, custom resources against the offline
CRD schemas in ../shared/k8s-schemas."""

from __future__ import annotations

from collections import Counter

import helm_python
import pytest

from tests.chart import validation
from tests.chart.render import CHART_DIR, render_templates
from tests.chart.scenarios import (
    DEFAULTS,
    PASSWORD_VALUES,
    job_templates,
    objects,
    scenario_names,
)

SCENARIOS = scenario_names()

# Every scenario the brief asks for has its file.
REQUIRED_SCENARIOS = {
    "kserve-on",
    "kserve-off",
    "gateway",
    "postgres-s3",
    "existing-secrets",
    "monitoring",
    "cronjob",
    "api-replicas",
    "all",
}


def test_every_required_scenario_exists() -> None:
    assert set(SCENARIOS) >= REQUIRED_SCENARIOS, REQUIRED_SCENARIOS - set(SCENARIOS)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_builtin_objects_are_valid_for_kubernetes_1_31(scenario: str) -> None:
    objs = objects(scenario)
    assert objs, "the chart rendered nothing"
    builtins = [o for o in objs if validation.is_builtin(o)]
    for obj in builtins:
        validation.validate_builtin(obj)
    # The run Jobs inside the ConfigMap are what the runner creates: they must be valid Jobs too.
    for job in job_templates(objs).values():
        validation.validate_builtin(job)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_custom_resources_match_their_crd_schemas(scenario: str) -> None:
    if not validation.SCHEMAS.is_dir():
        pytest.skip(validation.SHARED_MISSING)
    for obj in objects(scenario):
        if not validation.is_builtin(obj):
            validation.validate_custom(obj)


def test_a_kind_without_schema_fails() -> None:
    """The validators never pass an object they have no schema for."""
    with pytest.raises(AssertionError, match=r"no Kubernetes 1\.31 schema"):
        validation.validate_builtin({"apiVersion": "apps/v1", "kind": "Nonexistent"})
    if not validation.SCHEMAS.is_dir():
        pytest.skip(validation.SHARED_MISSING)
    with pytest.raises(AssertionError, match="no offline schema"):
        validation.validate_custom({"apiVersion": "example.com/v1", "kind": "Widget"})


def test_validators_reject_an_unknown_field() -> None:
    deployment = next(o for o in objects(DEFAULTS) if o["kind"] == "Deployment")
    broken = {**deployment, "spec": {**deployment["spec"], "replica": 2}}
    with pytest.raises(AssertionError, match="replica"):
        validation.validate_builtin(broken)
    if not validation.SCHEMAS.is_dir():
        pytest.skip(validation.SHARED_MISSING)
    isvc = next(o for o in objects(DEFAULTS) if o["kind"] == "InferenceService")
    broken_isvc = {**isvc, "spec": {"predictor": {**isvc["spec"]["predictor"], "replica": 1}}}
    with pytest.raises(AssertionError, match="replica"):
        validation.validate_custom(broken_isvc)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_names_are_unique_per_kind(scenario: str) -> None:
    keys = Counter((o["kind"], o["metadata"]["name"]) for o in objects(scenario))
    assert [k for k, n in keys.items() if n > 1] == []


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_no_cluster_wide_rbac(scenario: str) -> None:
    kinds = {o["kind"] for o in objects(scenario)}
    assert not kinds & {"ClusterRole", "ClusterRoleBinding"}


def test_chart_lints_clean() -> None:
    report = helm_python.lint(
        CHART_DIR, {"auth": {r: {"password": p} for r, p in _passwords().items()}}, strict=True
    )
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert report["errors"] == [], report
    assert problems == [], report


def test_notes_name_the_routes_and_the_ca() -> None:
    notes = render_templates([], PASSWORD_VALUES)["prodcat/templates/NOTES.txt"]
    assert "https://predict.prodcat.local" in notes
    assert "prodcat-ca" in notes
    assert "job-templates" in notes


def _passwords() -> dict[str, str]:
    return {key.split(".")[1]: value for key, value in PASSWORD_VALUES.items()}


def test_default_install_objects() -> None:
    """What `helm install` with only the passwords creates (optional features off)."""
    defaults = Counter(o["kind"] for o in objects(DEFAULTS))
    assert defaults == {
        "ClusterIssuer": 1,
        "Certificate": 2,
        "ConfigMap": 1,
        "Deployment": 2,
        "InferenceService": 1,
        "Ingress": 3,
        "Issuer": 1,
        "NetworkPolicy": 6,
        "PersistentVolumeClaim": 3,
        "Role": 1,
        "RoleBinding": 1,
        "Secret": 2,
        "Service": 3,
        "ServiceAccount": 4,
    }

"""The rendered scenarios shared by the chart tests: the chart's defaults plus each
charts/prodcat/ci/*-values.yaml, rendered once per session (rendering is pure)."""

from __future__ import annotations

import functools
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from tests.chart.render import CHART_DIR, Obj, deep_merge, load_values, render, scenario_files

DEFAULTS = "defaults"

# Made per test session: no password is written anywhere in the repository.
PASSWORDS = {role: secrets.token_urlsafe(18) for role in ("users", "devs", "admins")}
PASSWORD_VALUES = {f"auth.{role}.password": pw for role, pw in PASSWORDS.items()}


def scenario_names() -> list[str]:
    return [DEFAULTS] + [p.name.removesuffix("-values.yaml") for p in scenario_files()]


def scenario_path(name: str) -> list[Path]:
    return [] if name == DEFAULTS else [CHART_DIR / "ci" / f"{name}-values.yaml"]


@functools.cache
def objects(name: str) -> tuple[Obj, ...]:
    """The objects of a scenario, rendered with the session's passwords."""
    return tuple(render(scenario_path(name), PASSWORD_VALUES))


@functools.cache
def values(name: str) -> dict[str, Any]:
    """The coalesced values of a scenario (chart defaults + scenario file + passwords)."""
    defaults = yaml.safe_load((CHART_DIR / "values.yaml").read_text(encoding="utf-8"))
    merged: dict[str, Any] = deep_merge(defaults, load_values(scenario_path(name), PASSWORD_VALUES))
    return merged


def cpu_quantity(quantity: str | float) -> float:
    """CPUs of a Kubernetes CPU quantity: "500m" -> 0.5, "2" or 2 -> 2.0."""
    text = str(quantity)
    return int(text[:-1]) / 1000 if text.endswith("m") else float(text)


def of_kind(objs: tuple[Obj, ...] | list[Obj], kind: str) -> list[Obj]:
    return [o for o in objs if o["kind"] == kind]


def named(objs: tuple[Obj, ...] | list[Obj], kind: str, name: str) -> Obj:
    found = [o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


def job_templates(objs: tuple[Obj, ...] | list[Obj]) -> dict[str, Obj]:
    """The run Jobs of the ConfigMap <fullname>-job-templates, parsed, by stage."""
    cm = named(objs, "ConfigMap", "prodcat-job-templates")
    return {key.removesuffix(".yaml"): yaml.safe_load(text) for key, text in cm["data"].items()}


def pod_specs(objs: tuple[Obj, ...] | list[Obj]) -> Iterator[tuple[str, Obj, Obj]]:
    """(where, pod metadata, pod spec) of every pod the scenario can start: Deployments, Jobs, the
    CronJob, the run Job templates in the ConfigMap and the InferenceService predictor."""
    for o in objs:
        where = f"{o['kind']}/{o['metadata']['name']}"
        if o["kind"] in ("Deployment", "Job"):
            yield where, o["spec"]["template"]["metadata"], o["spec"]["template"]["spec"]
        elif o["kind"] == "CronJob":
            template = o["spec"]["jobTemplate"]["spec"]["template"]
            yield where, template["metadata"], template["spec"]
        elif o["kind"] == "InferenceService":
            predictor = o["spec"]["predictor"]
            yield where, {"labels": predictor.get("labels", {})}, predictor
    for stage, job in job_templates(objs).items():
        template = job["spec"]["template"]
        yield f"job-templates/{stage}.yaml", template["metadata"], template["spec"]

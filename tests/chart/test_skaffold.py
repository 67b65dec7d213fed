"""skaffold.yaml: valid against the skaffold v4beta14 schema (../shared/k8s-schemas), one artifact
per image, and helm values that exist in the chart."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.chart import validation
from tests.chart.render import CHART_DIR, REPO_ROOT, render
from tests.chart.scenarios import objects, pod_specs, scenario_names, values

SKAFFOLD = REPO_ROOT / "skaffold.yaml"
IMAGES = {"data", "train", "evaluate", "predict", "monitor"}


def documents() -> list[dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all(SKAFFOLD.read_text(encoding="utf-8")) if d is not None]
    assert docs, "skaffold.yaml is empty"
    return docs


def test_skaffold_config_matches_the_v4beta14_schema() -> None:
    if not validation.SCHEMAS.is_dir():
        pytest.skip(validation.SHARED_MISSING)
    validator = validation.skaffold_validator()
    for doc in documents():
        assert doc["apiVersion"] == "skaffold/v4beta14"
        errors = [f"{list(e.path)}: {e.message[:200]}" for e in validator.iter_errors(doc)]
        assert errors == []


def test_skaffold_schema_rejects_a_typo() -> None:
    if not validation.SCHEMAS.is_dir():
        pytest.skip(validation.SHARED_MISSING)
    doc = documents()[0]
    broken = {**doc, "build": {**doc["build"], "artifact": doc["build"]["artifacts"]}}
    assert list(validation.skaffold_validator().iter_errors(broken))


def test_one_artifact_per_image_built_from_its_dockerfile() -> None:
    (doc,) = documents()
    artifacts = doc["build"]["artifacts"]
    assert {a["image"] for a in artifacts} == {f"prodcat-{m}" for m in IMAGES}
    for a in artifacts:
        member = a["image"].removeprefix("prodcat-")
        assert a["context"] == "."
        assert a["docker"]["dockerfile"] == f"services/{member}/Dockerfile"


# The data image runs local subprocesses in the embedded mode (DATA_RUNNER=local): tini is its
# PID 1, reaping them and forwarding SIGTERM. The stage images run one process.
ENTRYPOINTS = {
    "data": ["tini", "--", "prodcat"],
    "train": ["prodcat"],
    "evaluate": ["prodcat"],
    "predict": ["prodcat"],
    "monitor": ["prodcat"],
}


def runtime_stage(member: str) -> str:
    text = (REPO_ROOT / "services" / member / "Dockerfile").read_text(encoding="utf-8")
    return text.rsplit("\nFROM ", 1)[1]


def entrypoint(member: str) -> list[str]:
    (line,) = [x for x in runtime_stage(member).splitlines() if x.startswith("ENTRYPOINT ")]
    parsed: list[str] = json.loads(line.removeprefix("ENTRYPOINT "))
    return parsed


@pytest.mark.parametrize("member", ["data", "train", "evaluate", "monitor"])
def test_dockerfiles_follow_the_image_rules(member: str) -> None:
    text = (REPO_ROOT / "services" / member / "Dockerfile").read_text(encoding="utf-8")
    assert text.count("\nFROM ") >= 2, "multi-stage"
    assert "ARG PYTHON_IMAGE=python:3.11." in text
    assert "slim-bookworm" in text
    assert "USER 10001:10001" in text
    assert entrypoint(member) == ENTRYPOINTS[member]
    assert "\nCMD [" in text
    assert "-c requirements/constraints.txt" in text
    assert "org.opencontainers.image.source" in text
    assert "org.opencontainers.image.revision" in text
    others = {"core", "cli", *IMAGES} - {"core", "cli", member}
    for other in others:
        assert f"services/{other}/" not in text, f"{member} image copies services/{other}"


def _values_files(release: dict[str, Any]) -> list[Path]:
    return [REPO_ROOT / f for f in release.get("valuesFiles", [])]


def test_helm_release_sets_every_image_from_the_artifacts() -> None:
    (doc,) = documents()
    (release,) = doc["deploy"]["helm"]["releases"]
    assert release["chartPath"] == "charts/prodcat"
    assert (REPO_ROOT / release["chartPath"]) == CHART_DIR
    templates = release["setValueTemplates"]
    for member in IMAGES:
        key = f"prodcat_{member}"
        assert templates[f"images.{member}.repository"] == f"{{{{.IMAGE_REPO_{key}}}}}"
        assert templates[f"images.{member}.tag"] == f"{{{{.IMAGE_TAG_{key}}}}}"
    prod = next(p for p in doc["profiles"] if p["name"] == "prod")
    digests = [p for p in prod["patches"] if p["path"].endswith(".tag")]
    assert {p["value"].split("@")[1] for p in digests} == {
        f"{{{{.IMAGE_DIGEST_prodcat_{m}}}}}" for m in IMAGES
    }
    assert {p["name"] for p in doc["profiles"]} == {"dev", "prod"}


@pytest.mark.parametrize("profile", ["dev", "prod"])
def test_skaffold_values_files_render(profile: str) -> None:
    (doc,) = documents()
    (release,) = doc["deploy"]["helm"]["releases"]
    files = _values_files(release)
    prod = next(p for p in doc["profiles"] if p["name"] == "prod")
    if profile == "prod":
        files = [
            REPO_ROOT / f
            for p in prod["patches"]
            if p["path"].endswith("valuesFiles")
            for f in p["value"]
        ]
    for f in files:
        assert f.is_file(), f
    sample = {
        "images.data.tag": "abc1234",
        "images.predict.tag": "abc1234@sha256:" + "0" * 64,
        "auth.users.password": "x" * 16,
        "auth.devs.password": "y" * 16,
        "auth.admins.password": "z" * 16,
    }
    assert render(files, sample)


def test_the_data_image_runs_tini_from_its_runtime_stage() -> None:
    stage = runtime_stage("data")
    install = re.search(r"apt-get install -y --no-install-recommends ([^\\\n&]+)", stage)
    assert install, "tini is installed in the runtime stage, without recommends"
    assert install[1].split() == ["tini"]
    assert "rm -rf /var/lib/apt/lists/*" in stage
    assert stage.index("tini") < stage.index("USER 10001:10001"), "installed as root, before USER"


@pytest.mark.parametrize("scenario", scenario_names())
def test_every_rendered_command_is_its_images_entrypoint(scenario: str) -> None:
    """A container's `command` replaces the image's ENTRYPOINT: the chart sets the same one, so a
    pod runs exactly what `docker run <image>` runs (tini included for the data API)."""
    repositories = {
        values(scenario)["images"][member]["repository"]: member for member in ENTRYPOINTS
    }
    seen = set()
    for where, _meta, spec in pod_specs(objects(scenario)):
        for c in spec["containers"]:
            repository = re.split(r"[@:]", c["image"].rsplit("/", 1)[-1])[0]
            prefix = c["image"].rsplit("/", 1)[0] + "/" + repository
            member = repositories.get(prefix)
            if member is None:
                continue  # MLflow's public image
            assert c["command"] == ENTRYPOINTS[member], f"{where} {c['name']}: {c['command']}"
            seen.add(member)
    # The monitor image runs only with model health on (its Job template and CronJob).
    expected = set(ENTRYPOINTS) - (
        set() if values(scenario)["modelHealth"]["enabled"] else {"monitor"}
    )
    assert seen == expected, seen

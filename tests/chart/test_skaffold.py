"""skaffold.yaml: valid against the skaffold v4beta14 schema (../shared/k8s-schemas), one artifact
per image, and helm values that exist in the chart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.chart import validation
from tests.chart.render import CHART_DIR, REPO_ROOT, render

SKAFFOLD = REPO_ROOT / "skaffold.yaml"
IMAGES = {"data", "train", "evaluate", "predict"}


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


@pytest.mark.parametrize("member", ["data", "train", "evaluate"])
def test_dockerfiles_follow_the_image_rules(member: str) -> None:
    text = (REPO_ROOT / "services" / member / "Dockerfile").read_text(encoding="utf-8")
    assert text.count("\nFROM ") >= 2, "multi-stage"
    assert "ARG PYTHON_IMAGE=python:3.11." in text
    assert "slim-bookworm" in text
    assert "USER 10001:10001" in text
    assert 'ENTRYPOINT ["prodcat"]' in text
    assert "\nCMD [" in text
    assert "-c requirements/constraints.txt" in text
    assert "org.opencontainers.image.source" in text
    assert "org.opencontainers.image.revision" in text
    others = {"core", "cli", "data", "train", "evaluate", "predict"} - {"core", "cli", member}
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

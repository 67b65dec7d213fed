"""Render the prodcat Helm chart offline, for tests (here and in other suites).

    from tests.chart.render import render
    objects = render(["charts/prodcat/ci/kserve-off-values.yaml"], {"auth.users.password": "…"})

`render` merges the values files (in order) and the `--set`-style values the way `helm template`
does, renders with the Helm v4 SDK (`helm_python`, no helm binary, no cluster: `lookup` is empty)
and returns the Kubernetes objects, each as a dict. Values are checked against
values.schema.json by the SDK; a schema violation raises `helm_python.HelmValuesError`, a
`required`/`fail` in a template raises `helm_python.HelmRenderError`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import helm_python
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART_DIR = REPO_ROOT / "charts" / "prodcat"
CI_DIR = CHART_DIR / "ci"
RELEASE = "prodcat"
NAMESPACE = "prodcat"

Obj = dict[str, Any]


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Helm's coalescing of user values: maps merge key by key, anything else is replaced."""
    out = dict(base)
    for key, value in override.items():
        current = out.get(key)
        if isinstance(current, Mapping) and isinstance(value, Mapping):
            out[key] = deep_merge(current, value)
        else:
            out[key] = value
    return out


def set_path(values: dict[str, Any], dotted: str, value: Any) -> None:
    """`--set a.b.c=value` with a typed value (no string parsing, so a password stays a string)."""
    *parents, leaf = dotted.split(".")
    node = values
    for part in parents:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise TypeError(f"--set {dotted}: {part!r} is not a map")
        node = child
    node[leaf] = value


def load_values(
    values_files: Iterable[str | Path] = (), set_values: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The user-supplied values: files merged in order, then the `--set` values."""
    merged: dict[str, Any] = {}
    for name in values_files:
        path = Path(name)
        if not path.is_absolute():
            path = REPO_ROOT / path
        loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(loaded, dict):
            raise TypeError(f"{path}: a values file must hold a map")
        merged = deep_merge(merged, loaded)
    for dotted, value in (set_values or {}).items():
        set_path(merged, dotted, value)
    return merged


def render_templates(
    values_files: Iterable[str | Path] = (),
    set_values: Mapping[str, Any] | None = None,
    *,
    release: str = RELEASE,
    namespace: str = NAMESPACE,
) -> dict[str, str]:
    """Template path -> rendered text (NOTES.txt included)."""
    values = load_values(values_files, set_values)
    with helm_python.Chart.load(CHART_DIR) as chart:
        return chart.render(values, name=release, namespace=namespace, is_install=True)


def parse_manifests(rendered: Mapping[str, str]) -> list[Obj]:
    """Every Kubernetes object of the rendered templates (empty documents and NOTES.txt skipped)."""
    objects: list[Obj] = []
    for path in sorted(rendered):
        if path.endswith("NOTES.txt"):
            continue
        for doc in yaml.safe_load_all(rendered[path]):
            if doc is None:
                continue
            if not isinstance(doc, dict):
                raise TypeError(f"{path}: rendered a document that is not a map: {doc!r}")
            objects.append(doc)
    return objects


def render(
    values_files: Iterable[str | Path] = (),
    set_values: Mapping[str, Any] | None = None,
    *,
    release: str = RELEASE,
    namespace: str = NAMESPACE,
) -> list[Obj]:
    """Render the chart and return its objects (what `helm template` would apply)."""
    rendered = render_templates(values_files, set_values, release=release, namespace=namespace)
    return parse_manifests(rendered)


def scenario_files() -> list[Path]:
    """The CI scenarios: charts/prodcat/ci/*-values.yaml."""
    return sorted(CI_DIR.glob("*-values.yaml"))

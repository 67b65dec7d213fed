"""MLflow tracking shared by the stages that log runs: pick the store, open the experiment."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

import mlflow
from mlflow.exceptions import MlflowException

from prodcat_core.errors import UnavailableError
from prodcat_core.registry import check_tracking_server
from prodcat_core.settings import TrackedServiceSettings


def is_local_store(tracking_uri: str) -> bool:
    return urlparse(tracking_uri).scheme in ("", "file", "sqlite")


def open_experiment(settings: TrackedServiceSettings) -> str:
    """Points MLflow at the configured store and returns the experiment id (created if new).

    A local store keeps artifacts under `artifacts_dir`; a server decides for itself."""
    check_tracking_server(settings.tracking_uri)
    mlflow.set_tracking_uri(settings.tracking_uri)
    mlflow.set_registry_uri(settings.tracking_uri)
    try:
        existing = mlflow.get_experiment_by_name(settings.experiment)
        if existing is not None:
            return str(existing.experiment_id)
        location = (
            Path(settings.artifacts_dir).resolve().as_uri()
            if is_local_store(settings.tracking_uri)
            else None
        )
        return str(mlflow.create_experiment(settings.experiment, artifact_location=location))
    except MlflowException as e:
        raise UnavailableError(f"MLflow at {settings.tracking_uri}: {e.message}") from e


def flatten(params: dict[str, object], prefix: str = "") -> dict[str, str]:
    """Nested params as MLflow's flat string params."""
    out: dict[str, str] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = str(value)
    return out

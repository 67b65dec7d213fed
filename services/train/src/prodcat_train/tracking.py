"""Logging a training run to MLflow and registering its model as the new challenger."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models.signature import ModelSignature
from mlflow.types.schema import ColSpec, Schema

from prodcat_core.artifact import ArtifactMetadata
from prodcat_core.errors import UnavailableError
from prodcat_core.reference_profile import PROFILE_FILE
from prodcat_core.registry import ModelRegistry, ModelVersionInfo
from prodcat_core.tracking import flatten, open_experiment
from prodcat_train import pyfunc_model
from prodcat_train.config import TrainSettings

logger = logging.getLogger(__name__)

# Shown with the model in MLflow's UI, and run once through the model when it is logged.
INPUT_EXAMPLE = pd.DataFrame(
    {
        "designation": ["Piscine tubulaire ronde 3,66 m"],
        "description": ["<p>Bâche &amp; pompe de filtration incluses</p>"],
    }
)

# What `mlflow models serve` accepts and answers (dataframe_split / dataframe_records JSON).
SIGNATURE = ModelSignature(
    inputs=Schema(
        [ColSpec("string", "designation"), ColSpec("string", "description", required=False)]
    ),
    outputs=Schema(
        [
            ColSpec("long", "prdtypecode"),
            ColSpec("string", "category"),
            ColSpec("double", "confidence"),
        ]
    ),
)


@dataclass(frozen=True)
class TrackedRun:
    run_id: str
    version: ModelVersionInfo


def track_training(
    settings: TrainSettings,
    artifact: Path,
    metadata: ArtifactMetadata,
    history: list[dict[str, float]],
) -> TrackedRun:
    """One MLflow run with params, per-epoch metrics, the artifact (as a pyfunc model) and the
    dataset/commit tags; then a registry version aliased `challenger`. A model id registered
    already (a Job killed after registering, then restarted) is not logged or registered again."""
    registry = ModelRegistry(settings.tracking_uri, settings.registered_model)
    existing = registry.find_model(metadata.model_id)
    if existing is not None and existing.run_id is not None:
        logger.info(
            "model %s is registered already as %s version %s: not registering it again",
            metadata.model_id,
            settings.registered_model,
            existing.version,
        )
        return TrackedRun(existing.run_id, existing)
    experiment_id = open_experiment(settings)
    tags = {
        "model_id": metadata.model_id,
        "family": metadata.family,
        "dataset_id": metadata.dataset_id,
        "prepared_id": metadata.prepared_id,
        "synthetic": str(metadata.synthetic).lower(),
        "git_commit": metadata.git_commit or "unknown",
    }
    try:
        with mlflow.start_run(
            experiment_id=experiment_id, run_name=metadata.model_id, tags=tags
        ) as run:
            mlflow.log_params(flatten(metadata.params))
            for step, epoch in enumerate(history):
                mlflow.log_metrics(epoch, step=step)
            mlflow.log_metrics(metadata.metrics)
            if (artifact / PROFILE_FILE).is_file():  # also inside the model; here to browse
                mlflow.log_artifact(str(artifact / PROFILE_FILE))
            logged = mlflow.pyfunc.log_model(
                name="model",
                python_model=pyfunc_model.__file__,
                artifacts={"artifact": str(artifact)},
                pip_requirements=["prodcat-core", "prodcat-train"],
                signature=SIGNATURE,
                input_example=INPUT_EXAMPLE,
            )
            run_id = run.info.run_id
    except MlflowException as e:
        raise UnavailableError(f"MLflow at {settings.tracking_uri}: {e.message}") from e
    version = registry.register(logged.model_uri, run_id, tags, logged.model_id)
    logger.info("MLflow run %s, %s version %s", run_id, settings.registered_model, version.version)
    return TrackedRun(run_id, version)

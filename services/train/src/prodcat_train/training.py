"""One training run: read a prepared version, fit, score on validation, write the artifact."""

from __future__ import annotations

import logging
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from prodcat_core.artifact import ArtifactMetadata, Family, write_artifact
from prodcat_core.datasets import PreparedData, prepared_store
from prodcat_core.errors import InvalidInputError
from prodcat_core.logging import log_context
from prodcat_core.metrics import Scores, score
from prodcat_core.model import model_store
from prodcat_core.registry import check_tracking_server
from prodcat_train.config import TrainSettings
from prodcat_train.linear import LinearParams, fit_linear
from prodcat_train.profile import measure_profile, with_profile
from prodcat_train.tracking import track_training

logger = logging.getLogger(__name__)

P = TypeVar("P", bound=BaseModel)


@dataclass(frozen=True)
class TrainResult:
    model_id: str
    path: Path
    val: Scores
    seconds: float
    run_id: str
    registry_version: str


def git_commit(settings: TrainSettings) -> str | None:
    if settings.git_commit:
        return settings.git_commit
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def validate_params(model: type[P], family: Family, overrides: dict[str, Any]) -> P:
    """A family's parameters from overrides; a bad one is an input error naming it."""
    try:
        return model.model_validate(overrides)
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors()
        )
        raise InvalidInputError(f"bad {family} parameter: {problems}") from e


def parse_params(family: Family, overrides: dict[str, Any]) -> LinearParams:
    if family != "linear":
        raise InvalidInputError(f"model family {family!r} is not available in this build")
    return validate_params(LinearParams, family, overrides)


def train(
    prepared_ref: str, family: Family, overrides: dict[str, Any], settings: TrainSettings
) -> TrainResult:
    if family == "transformer":
        # Imported here: torch and transformers load only for the family that needs them.
        from prodcat_train.transformer import train_transformer

        return train_transformer(prepared_ref, overrides, settings)
    params = parse_params(family, overrides)
    data = PreparedData(prepared_store(settings.prepared_dir), prepared_ref)
    check_tracking_server(settings.tracking_uri)  # fail before the work, not after it
    store = model_store(settings.models_dir)
    model_id = f"m-{uuid.uuid4().hex[:12]}"
    with log_context(model_id=model_id, prepared_id=data.id):
        train_split, val_split = data.split("train"), data.split("val")
        logger.info(
            "training %s on %s: %d train rows, %d val rows",
            family,
            data.id,
            len(train_split),
            len(val_split),
        )
        started = time.perf_counter()
        train_y = data.codec.encode(train_split["prdtypecode"].to_numpy())
        val_y = data.codec.encode(val_split["prdtypecode"].to_numpy())
        val_texts = val_split["text"].tolist()
        fit = fit_linear(
            train_split["text"].tolist(), train_y, val_texts, val_y, data.codec.n_classes, params
        )
        model = fit.model
        seconds = time.perf_counter() - started
        val_proba = fit.val_proba if fit.val_proba is not None else model.predict_proba(val_texts)
        val_scores = score(val_y, val_proba, data.codec)
        logger.info(
            "trained in %.1fs: val weighted F1 %.4f, macro F1 %.4f",
            seconds,
            val_scores.weighted_f1,
            val_scores.macro_f1,
        )
        metadata = ArtifactMetadata(
            model_id=model_id,
            family=family,
            dataset_id=data.manifest.dataset_id,
            prepared_id=data.id,
            synthetic=data.manifest.synthetic,
            git_commit=git_commit(settings),
            params=params.model_dump(mode="json") | {"c": fit.c},
            metrics={f"val_{k}": v for k, v in val_scores.headline().items()}
            | {"train_seconds": seconds},
        )
        profile = measure_profile(data, train_split["text"].tolist(), model.predict_proba, model_id)
        path = write_artifact(
            store.path(model_id), metadata, data.codec, with_profile(model.save, profile)
        )
        store.set_latest(model_id)
        tracked = track_training(settings, path, metadata, history=[])
    return TrainResult(model_id, path, val_scores, seconds, tracked.run_id, tracked.version.version)

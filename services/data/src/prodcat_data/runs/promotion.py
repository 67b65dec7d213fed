"""Models: the registry's champion and challenger, promotion and rollback.

Promotion is never decided here: `promote` starts an evaluate run with promotion enabled, so the
evaluate stage's gate (`prodcat_core.gate`) decides, exactly as in the pipeline. Rollback moves
`champion` back to the version the registry recorded as the previous champion."""

from __future__ import annotations

import logging
import re
from datetime import datetime
from typing import Annotated

from mlflow.exceptions import MlflowException
from pydantic import BaseModel, ConfigDict, Field

from prodcat_core.errors import ConflictError
from prodcat_core.registry import CHALLENGER, CHAMPION, ModelRegistry, ModelVersionInfo
from prodcat_data.runs.models import PREPARED_REF_PATTERN, EvaluateRequest, RunView
from prodcat_data.runs.service import RunService

logger = logging.getLogger(__name__)

_PREPARED = re.compile(PREPARED_REF_PATTERN)


class ModelVersionView(BaseModel):
    version: str
    model_id: str | None = None
    aliases: list[str] = Field(default_factory=list)
    run_id: str | None = Field(None, description="the MLflow run that produced it")
    created_at: datetime | None = None
    promoted_at: str | None = Field(None, description="when it last became the champion")
    promotion_reason: str | None = Field(None, description="the gate's decision that promoted it")
    previous_champion: str | None = Field(None, description="what a rollback goes back to")
    metrics: dict[str, float] = Field(default_factory=dict, description="its MLflow run's metrics")
    mlflow_run_url: str | None = None


class ModelsView(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "registered_model": "prodcat",
                    "champion": {
                        "version": "3",
                        "model_id": "m-0123456789ab",
                        "aliases": ["champion"],
                        "promoted_at": "2025-01-01T10:05:00+00:00",
                        "promotion_reason": "promoted weighted F1 0.8123 >= champion 0.8010",
                        "previous_champion": "2",
                        "metrics": {"val_weighted_f1": 0.81},
                    },
                    "challenger": None,
                }
            ]
        }
    )

    registered_model: str
    champion: ModelVersionView | None
    challenger: ModelVersionView | None


class PromoteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: Annotated[
        str,
        Field(
            pattern=r"^[1-9][0-9]{0,9}$", description="registry version to promote", examples=["4"]
        ),
    ]
    prepared_id: Annotated[
        str | None,
        Field(
            pattern=PREPARED_REF_PATTERN,
            description="prepared dataset to evaluate on (default: the one the version was "
            "trained on, else the latest)",
        ),
    ] = None


class ModelsService:
    def __init__(self, runs: RunService) -> None:
        self.runs = runs

    def registry(self) -> ModelRegistry:
        return self.runs.registry()

    def _view(
        self, registry: ModelRegistry, info: ModelVersionInfo | None
    ) -> ModelVersionView | None:
        if info is None:
            return None
        metrics: dict[str, float] = {}
        if info.run_id:
            try:
                metrics = {
                    k: float(v)
                    for k, v in registry.client.get_run(info.run_id).data.metrics.items()
                }
            except MlflowException as e:  # the version is still worth showing without them
                logger.warning("metrics of MLflow run %s: %s", info.run_id, e.message)
        return ModelVersionView(
            version=info.version,
            model_id=info.model_id,
            aliases=info.aliases,
            run_id=info.run_id,
            created_at=info.created_at,
            promoted_at=info.tags.get("promoted_at"),
            promotion_reason=info.tags.get("promotion_reason"),
            previous_champion=info.tags.get("previous_champion"),
            metrics=metrics,
            mlflow_run_url=self.runs.mlflow_url({"mlflow_run_id": info.run_id}),
        )

    def show(self) -> ModelsView:
        registry = self.registry()
        return ModelsView(
            registered_model=registry.name,
            champion=self._view(registry, registry.get_alias(CHAMPION)),
            challenger=self._view(registry, registry.get_alias(CHALLENGER)),
        )

    def promote(self, request: PromoteRequest, idempotency_key: str | None) -> tuple[RunView, bool]:
        """Starts the evaluate run whose gate decides the promotion; returns (run, created)."""
        registry = self.registry()
        info = registry.get_version(request.version)
        trained_on = info.tags.get("prepared_id", "")
        prepared = request.prepared_id or (
            trained_on if _PREPARED.fullmatch(trained_on) else "latest"
        )
        evaluate = EvaluateRequest(
            kind="evaluate", model_version=info.version, prepared_id=prepared, promote=True
        )
        # A retry gets its run back even once that run has made the version the champion.
        if (existing := self.runs.replayed(evaluate, idempotency_key)) is not None:
            return existing, False
        champion = registry.get_alias(CHAMPION)
        if champion is not None and champion.version == info.version:
            raise ConflictError(f"version {info.version} is already the champion")
        return self.runs.start(evaluate, idempotency_key)

    def rollback(self) -> ModelsView:
        self.registry().rollback()
        return self.show()

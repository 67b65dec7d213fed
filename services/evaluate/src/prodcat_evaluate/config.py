"""Settings of the evaluate stage (env prefix EVALUATE_)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from prodcat_core.settings import TrackedServiceSettings


class EvaluateSettings(TrackedServiceSettings):
    model_config = SettingsConfigDict(env_prefix="EVALUATE_")

    prepared_dir: Path = Field(Path("data/prepared"), description="store of prepared versions")
    models_dir: Path = Field(Path("models/artifacts"), description="where model artifacts live")
    results_dir: Path = Field(Path("results"), description="where evaluation reports are written")
    batch_size: int = Field(2048, gt=0, description="texts scored per batch")
    gate_min_weighted_f1: float = Field(0.0, ge=0, le=1, description="floor for any promotion")
    gate_min_improvement: float = Field(
        0.0, ge=-1, le=1, description="candidate weighted F1 must be >= champion's + this"
    )
    gate_max_class_drop: float = Field(
        0.05, ge=0, le=1, description="largest allowed per-class F1 fall"
    )
    gate_min_class_support: int = Field(20, ge=0, description="smaller classes cannot veto")

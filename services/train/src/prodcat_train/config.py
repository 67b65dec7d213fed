"""Settings of the train stage (env prefix TRAIN_)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from prodcat_core.settings import TrackedServiceSettings


class TrainSettings(TrackedServiceSettings):
    model_config = SettingsConfigDict(env_prefix="TRAIN_")

    prepared_dir: Path = Field(Path("data/prepared"), description="store of prepared versions")
    models_dir: Path = Field(
        Path("models/artifacts"), description="where model artifacts are written"
    )
    git_commit: str | None = Field(
        None, description="commit of the code (images bake it in); else asked from git"
    )

"""The base every service's settings class derives from.

Each service owns one pydantic-settings class with its own env prefix (DATA_, TRAIN_, EVALUATE_,
PREDICT_); nothing else in the code reads the environment. Settings are built by the entrypoint,
never at import time, and handed down."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """Common behaviour: env prefix set by the subclass, unknown variables ignored, frozen."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True, env_ignore_empty=True)


class TrackedServiceSettings(ServiceSettings):
    """Settings of the stages that talk to MLflow. The tracking URI is read from
    MLFLOW_TRACKING_URI, as MLflow itself reads it; the default is a local SQLite store."""

    model_config = SettingsConfigDict(populate_by_name=True)

    tracking_uri: str = Field(
        "sqlite:///mlruns.db",
        validation_alias=AliasChoices("MLFLOW_TRACKING_URI", "tracking_uri"),
        description="MLflow tracking and registry URI",
    )
    experiment: str = Field("prodcat", description="MLflow experiment of the runs")
    registered_model: str = Field("prodcat", description="name of the registered model")
    artifacts_dir: Path = Field(
        Path("mlartifacts"), description="artifact root of a local (non-server) tracking store"
    )

"""Settings of the CLI itself: how it logs. Each stage reads its own settings class."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from prodcat_core.logging import LogFormat
from prodcat_core.settings import ServiceSettings


class CliSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PRODCAT_")

    log_level: str = "INFO"
    # Text at a terminal; the chart sets json for pods.
    log_format: LogFormat = "text"

"""Settings of the CLI itself: how it logs, the CPUs it was given. Each stage reads its own
settings class."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from prodcat_core.logging import LogFormat
from prodcat_core.settings import ServiceSettings


class CliSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PRODCAT_")

    log_level: str = "INFO"
    # Text at a terminal; the chart sets json for pods.
    log_format: LogFormat = "text"
    # The chart sets the pod's CPU limit (or request) here through a resourceFieldRef.
    cpus: int | None = Field(
        None,
        ge=1,
        description="CPUs every stage plans its threads for (PRODCAT_CPUS); unset: the cgroup "
        "limit, then the cores",
    )

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
    run_key: str | None = Field(
        None,
        description="key of a resumable transformer run (in Kubernetes the Job name): a run "
        "restarted with the same key continues from its last checkpoint; unset: a new key",
    )
    run_state_dir: Path | None = Field(
        None,
        description="where transformer runs keep checkpoints, one folder per run key "
        "(default: .runs inside models_dir)",
    )

    def run_state_root(self) -> Path:
        return self.run_state_dir or self.models_dir / ".runs"

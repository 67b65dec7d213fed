"""The model registry: MLflow registered-model versions and the aliases `challenger` and
`champion` (registry stages are deprecated and not used).

Every write is checked against a reachable tracking server first, so a server that is down gives
one clear error before anything is written. The previous champion is recorded on the new one
(tag `previous_champion`), which is what a rollback goes back to."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar
from urllib.parse import urlparse

import httpx
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from prodcat_core.errors import ConflictError, NotFoundError, UnavailableError

logger = logging.getLogger(__name__)

CHAMPION = "champion"
CHALLENGER = "challenger"
DEFAULT_MODEL_NAME = "prodcat"

T = TypeVar("T")


@dataclass(frozen=True)
class ModelVersionInfo:
    name: str
    version: str
    run_id: str | None
    aliases: list[str]
    tags: dict[str, str] = field(default_factory=dict)
    created_at: datetime | None = None

    @property
    def model_id(self) -> str | None:
        return self.tags.get("model_id")

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"


def check_tracking_server(tracking_uri: str, timeout_s: float = 5.0) -> None:
    """Raises UnavailableError unless an http(s) tracking server answers its health check."""
    if urlparse(tracking_uri).scheme not in ("http", "https"):
        return
    url = tracking_uri.rstrip("/") + "/health"
    try:
        response = httpx.get(url, timeout=timeout_s)
    except httpx.HTTPError as e:
        raise UnavailableError(f"MLflow tracking server {tracking_uri} is unreachable: {e}") from e
    if response.status_code != 200:
        raise UnavailableError(
            f"MLflow tracking server {tracking_uri} is unhealthy (HTTP {response.status_code})"
        )


class ModelRegistry:
    def __init__(self, tracking_uri: str, model_name: str = DEFAULT_MODEL_NAME) -> None:
        self.tracking_uri = tracking_uri
        self.name = model_name
        self.client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)

    def alias_uri(self, alias: str) -> str:
        return f"models:/{self.name}@{alias}"

    def _info(self, mv: object) -> ModelVersionInfo:
        created = getattr(mv, "creation_timestamp", None)
        return ModelVersionInfo(
            name=str(getattr(mv, "name", self.name)),
            version=str(getattr(mv, "version", "")),
            run_id=getattr(mv, "run_id", None),
            aliases=list(getattr(mv, "aliases", []) or []),
            tags=dict(getattr(mv, "tags", {}) or {}),
            created_at=datetime.fromtimestamp(created / 1000, UTC) if created else None,
        )

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        check_tracking_server(self.tracking_uri)
        try:
            return fn()
        except MlflowException as e:
            if e.error_code == "RESOURCE_DOES_NOT_EXIST":
                raise NotFoundError(f"{what}: not found in the registry ({self.name})") from e
            raise UnavailableError(f"{what}: MLflow error: {e.message}") from e

    def get_alias(self, alias: str) -> ModelVersionInfo | None:
        check_tracking_server(self.tracking_uri)
        try:
            return self._info(self.client.get_model_version_by_alias(self.name, alias))
        except MlflowException as e:
            if e.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                return None
            raise UnavailableError(f"alias {alias}: MLflow error: {e.message}") from e

    def get_version(self, version: str) -> ModelVersionInfo:
        return self._call(
            f"model version {version}",
            lambda: self._info(self.client.get_model_version(self.name, version)),
        )

    def versions(self) -> list[ModelVersionInfo]:
        found = self._call(
            "model versions", lambda: self.client.search_model_versions(f"name = '{self.name}'")
        )
        return sorted((self._info(mv) for mv in found), key=lambda v: int(v.version))

    def find_model(self, model_id: str) -> ModelVersionInfo | None:
        """The version registered for one of our model ids, if any: a restarted Job asks this
        before it registers, so a kill after registering does not register the model twice."""
        found = self._call(
            f"model {model_id}",
            lambda: self.client.search_model_versions(
                f"name = '{self.name}' and tags.model_id = '{model_id}'"
            ),
        )
        versions = sorted((self._info(mv) for mv in found), key=lambda v: int(v.version))
        return versions[0] if versions else None

    def register(
        self, model_uri: str, run_id: str, tags: dict[str, str], logged_model_id: str | None = None
    ) -> ModelVersionInfo:
        """A new version from a logged model, tagged, and made the challenger."""

        def create() -> ModelVersionInfo:
            try:
                self.client.create_registered_model(self.name)
            except MlflowException as e:
                if e.error_code != "RESOURCE_ALREADY_EXISTS":
                    raise
            mv = self.client.create_model_version(
                self.name, model_uri, run_id=run_id, tags=tags, model_id=logged_model_id
            )
            self.client.set_registered_model_alias(self.name, CHALLENGER, mv.version)
            return self._info(self.client.get_model_version(self.name, mv.version))

        info = self._call(f"register {model_uri}", create)
        logger.info("registered %s version %s as %s", self.name, info.version, CHALLENGER)
        return info

    def tag(self, version: str, key: str, value: str) -> None:
        self._call(
            f"model version {version}",
            lambda: self.client.set_model_version_tag(self.name, version, key, value),
        )

    def promote(self, version: str, reason: str) -> ModelVersionInfo:
        """Makes `version` the champion and records the champion it replaces."""
        target = self.get_version(version)
        current = self.get_alias(CHAMPION)
        if current is not None and current.version == target.version:
            raise ConflictError(f"version {version} is already the champion")

        def move() -> ModelVersionInfo:
            if current is not None:
                self.client.set_model_version_tag(
                    self.name, version, "previous_champion", current.version
                )
            self.client.set_model_version_tag(
                self.name, version, "promoted_at", datetime.now(UTC).isoformat(timespec="seconds")
            )
            self.client.set_model_version_tag(self.name, version, "promotion_reason", reason)
            self.client.set_registered_model_alias(self.name, CHAMPION, version)
            return self._info(self.client.get_model_version(self.name, version))

        info = self._call(f"promote version {version}", move)
        logger.info("version %s is now the champion (%s)", version, reason)
        return info

    def rollback(self) -> ModelVersionInfo:
        """Moves `champion` back to the version it replaced."""
        current = self.get_alias(CHAMPION)
        if current is None:
            raise NotFoundError(f"{self.name} has no champion to roll back")
        previous = current.tags.get("previous_champion")
        if not previous:
            raise ConflictError(f"champion version {current.version} replaced no earlier champion")
        self.get_version(previous)

        def move() -> ModelVersionInfo:
            self.client.set_registered_model_alias(self.name, CHAMPION, previous)
            self.client.set_model_version_tag(
                self.name,
                current.version,
                "rolled_back_at",
                datetime.now(UTC).isoformat(timespec="seconds"),
            )
            return self._info(self.client.get_model_version(self.name, previous))

        info = self._call("rollback", move)
        logger.info("champion rolled back from version %s to %s", current.version, previous)
        return info

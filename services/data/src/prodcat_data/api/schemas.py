"""Request and response bodies of the data API that are not the stores' own schemas."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from urllib.parse import urlparse

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator

from prodcat_core.datasets import DatasetManifest, PreparedManifest

_HTTP_URL = "^[Hh][Tt][Tt][Pp][Ss]?://[^/?#]+"
_EXAMPLE_DATASET: dict[str, Any] = {
    "schema_version": 1,
    "dataset_id": "ds-1a2b3c4d5e6f",
    "created_at": "2025-01-01T10:00:00Z",
    "synthetic": False,
    "n_rows": 84916,
    "class_counts": {"10": 3116, "40": 2508},
    "empty_descriptions": 29800,
    "sources": [
        {"role": "x", "name": "X_train_update.csv", "source": "upload", "sha256": "…", "bytes": 1},
        {"role": "y", "name": "Y_train_CVw08PX.csv", "source": "upload", "sha256": "…", "bytes": 1},
    ],
    "prepared_ids": ["pp-3f2a9c0d1e4b"],
    "created": True,
}


class UrlImport(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "x_url": "https://example.org/challenge/X_train_update.csv",
                    "y_url": "https://example.org/challenge/Y_train_CVw08PX.csv",
                }
            ]
        },
    )

    x_url: str = Field(
        max_length=2048,
        description="http(s) URL of the X file",
        json_schema_extra={"pattern": _HTTP_URL},
    )
    y_url: str = Field(
        max_length=2048,
        description="http(s) URL of the Y file",
        json_schema_extra={"pattern": _HTTP_URL},
    )
    base: str | None = Field(
        None,
        pattern="^(latest|ds-[0-9a-f]{12})$",
        description="append to this dataset version (rows plus the files', duplicates dropped)",
    )

    @field_validator("x_url", "y_url")
    @classmethod
    def _http_only(cls, value: str) -> str:
        try:
            parsed = urlparse(value)
            port = parsed.port  # raises on a port that is not a number in range
            httpx.URL(value)  # what the download will parse
        except (ValueError, httpx.InvalidURL) as e:
            raise ValueError(f"not a valid URL: {e}") from e
        if parsed.scheme.lower() not in ("http", "https") or not parsed.hostname:
            raise ValueError("must be an http:// or https:// URL with a host")
        if port == 0:
            raise ValueError("port 0 is not a port")
        return value


class DatasetSummary(BaseModel):
    dataset_id: str
    created_at: datetime
    n_rows: int
    n_classes: int
    synthetic: bool


class DatasetView(DatasetManifest):
    """A dataset version's manifest, with the prepared versions made from it."""

    model_config = ConfigDict(json_schema_extra={"examples": [_EXAMPLE_DATASET]})

    prepared_ids: list[str] = Field(default_factory=list, description="prepared versions of it")
    created: bool | None = Field(
        None, description="on import: false when the same files were imported before"
    )


class PreparedView(PreparedManifest):
    created: bool | None = Field(
        None, description="false when the dataset was prepared with these params before"
    )


class CheckResult(BaseModel):
    ok: bool
    detail: str


class Readiness(BaseModel):
    status: Literal["ready", "not ready"]
    checks: dict[str, CheckResult]

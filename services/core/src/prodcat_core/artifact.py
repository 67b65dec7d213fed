"""The model artifact: everything a server needs to answer, and nothing else.

    <artifact>/
      metadata.json      family, ids, metrics, input schema, text-function version, file hashes
      label_codec.json   class index <-> prdtypecode <-> category name
      <model files>      per family (see linear_model.py); never a pickle

An artifact is written into a temporary folder and renamed into place. Reading it checks the
format version, the text-function version and the sha256 of every model file, so a truncated or
swapped file is refused with a message instead of producing wrong answers."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from prodcat_core.errors import InvalidInputError, NotFoundError
from prodcat_core.labels import CODEC_FILE, LabelCodec
from prodcat_core.staging import STAGING_PREFIX, held_folder, remove_orphans
from prodcat_core.text import TEXT_FN_VERSION

FORMAT_VERSION = 1
METADATA_FILE = "metadata.json"

Family = Literal["linear", "transformer"]

# What a caller sends for one listing; a server validates requests against it.
INPUT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "designation": {"type": "string", "minLength": 1, "description": "product title"},
        "description": {
            "type": ["string", "null"],
            "description": "product description, HTML allowed",
        },
    },
    "required": ["designation"],
}


class ArtifactMetadata(BaseModel):
    format_version: int = FORMAT_VERSION
    model_id: str
    family: Family
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    dataset_id: str
    prepared_id: str
    synthetic: bool = Field(description="trained on generated data: its scores say nothing real")
    git_commit: str | None = None
    text_fn_version: str = TEXT_FN_VERSION
    input_schema: dict[str, Any] = Field(default_factory=lambda: dict(INPUT_SCHEMA))
    params: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, float] = Field(default_factory=dict)
    files: dict[str, str] = Field(default_factory=dict, description="model file -> sha256")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def write_artifact(
    dest: Path,
    metadata: ArtifactMetadata,
    codec: LabelCodec,
    write_model: Callable[[Path], list[str]],
) -> Path:
    """Writes an artifact at `dest` atomically. `write_model(folder)` writes the model files and
    returns their names relative to the folder; their hashes go into metadata.json."""
    if dest.exists():
        raise InvalidInputError(f"{dest}: an artifact exists there already")
    dest.parent.mkdir(parents=True, exist_ok=True)
    remove_orphans(dest.parent, STAGING_PREFIX)
    with held_folder(dest.parent, STAGING_PREFIX) as tmp:
        names = write_model(tmp)
        files = {name: _sha256(tmp / name) for name in sorted(names)}
        codec.save(tmp / CODEC_FILE)
        final = metadata.model_copy(update={"files": files})
        (tmp / METADATA_FILE).write_text(final.model_dump_json(indent=2) + "\n", encoding="utf-8")
        tmp.rename(dest)
    return dest


def read_artifact(path: Path, *, verify: bool = True) -> tuple[ArtifactMetadata, LabelCodec]:
    """Reads and checks an artifact's metadata and codec (and, with verify, its files' hashes)."""
    meta_path = path / METADATA_FILE
    if not path.is_dir():
        raise NotFoundError(f"{path}: no model artifact there")
    if not meta_path.is_file():
        raise InvalidInputError(f"{path}: not a model artifact ({METADATA_FILE} is missing)")
    try:
        metadata = ArtifactMetadata.model_validate(
            json.loads(meta_path.read_text(encoding="utf-8"))
        )
    except (ValueError, ValidationError) as e:
        raise InvalidInputError(f"{meta_path}: not valid artifact metadata: {e}") from e
    if metadata.format_version != FORMAT_VERSION:
        raise InvalidInputError(
            f"{path}: artifact format {metadata.format_version}, this build reads {FORMAT_VERSION}"
        )
    if metadata.text_fn_version != TEXT_FN_VERSION:
        raise InvalidInputError(
            f"{path}: trained with text function v{metadata.text_fn_version}, this build has "
            f"v{TEXT_FN_VERSION}; retrain the model or serve it with a matching image"
        )
    if verify:
        for name, expected in metadata.files.items():
            file = path / name
            if not file.is_file():
                raise InvalidInputError(f"{path}: model file {name} is missing")
            if _sha256(file) != expected:
                raise InvalidInputError(f"{path}: model file {name} is corrupt (sha256 mismatch)")
    return metadata, LabelCodec.load(path / CODEC_FILE)

"""The artifact format (write/read/verify) and loading one as a classifier."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from prodcat_core.artifact import (
    FORMAT_VERSION,
    METADATA_FILE,
    ArtifactMetadata,
    read_artifact,
    write_artifact,
)
from prodcat_core.errors import InvalidInputError, NotFoundError
from prodcat_core.labels import CODEC_FILE, LabelCodec
from prodcat_core.linear_model import FEATURES_FILE, WEIGHTS_FILE, FeatureBlock, LinearTextModel
from prodcat_core.model import load_model, locate_artifact, resolve_model_source
from prodcat_core.text import TEXT_FN_VERSION

VOCABULARY = ["chaise", "jardin", "livre", "piscine", "roman"]


def _codec() -> LabelCodec:
    return LabelCodec.from_codes([10, 2582, 2583])


def _linear(n_classes: int = 3) -> LinearTextModel:
    coef = np.zeros((n_classes, len(VOCABULARY)), dtype=np.float32)
    # chaise/jardin -> 2582, livre/roman -> 10, piscine -> 2583
    for word, cls in {"chaise": 1, "jardin": 1, "livre": 0, "roman": 0, "piscine": 2}.items():
        coef[cls % n_classes, VOCABULARY.index(word)] = 8.0
    return LinearTextModel(
        [FeatureBlock(analyzer="word", ngram_range=(1, 1))],
        [VOCABULARY],
        [np.ones(len(VOCABULARY), dtype=np.float32)],
        coef,
        np.zeros(n_classes, dtype=np.float32),
    )


def _metadata(**update: object) -> ArtifactMetadata:
    base = ArtifactMetadata(
        model_id="m-test",
        family="linear",
        dataset_id="ds-0123456789ab",
        prepared_id="pp-0123456789ab",
        synthetic=True,
        metrics={"weighted_f1": 0.9},
    )
    return base.model_copy(update=update)


@pytest.fixture
def artifact(tmp_path: Path) -> Path:
    return write_artifact(tmp_path / "models" / "m-test", _metadata(), _codec(), _linear().save)


def test_write_then_read(artifact: Path) -> None:
    assert sorted(p.name for p in artifact.parent.iterdir()) == ["m-test"]  # no temp folder left
    metadata, codec = read_artifact(artifact)
    assert codec == _codec()
    assert metadata.model_id == "m-test"
    assert metadata.format_version == FORMAT_VERSION
    assert metadata.text_fn_version == TEXT_FN_VERSION
    assert metadata.synthetic is True
    assert metadata.metrics == {"weighted_f1": 0.9}
    assert set(metadata.files) == {FEATURES_FILE, WEIGHTS_FILE}
    assert metadata.input_schema["required"] == ["designation"]
    assert (artifact / CODEC_FILE).is_file()
    assert not list(artifact.rglob("*.pkl"))


def test_write_over_an_existing_folder_is_refused(artifact: Path) -> None:
    before = {p: p.read_bytes() for p in artifact.rglob("*") if p.is_file()}
    with pytest.raises(InvalidInputError, match="an artifact exists there already") as info:
        write_artifact(artifact, _metadata(model_id="other"), _codec(), _linear().save)
    assert str(artifact) in info.value.message
    assert {p: p.read_bytes() for p in artifact.rglob("*") if p.is_file()} == before


def test_write_that_fails_leaves_nothing(tmp_path: Path) -> None:
    def write_model(folder: Path) -> list[str]:
        (folder / "half.bin").write_bytes(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_artifact(tmp_path / "m", _metadata(), _codec(), write_model)
    assert list(tmp_path.iterdir()) == []


def test_a_modified_model_file_is_corrupt(artifact: Path) -> None:
    weights = artifact / WEIGHTS_FILE
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x01
    weights.write_bytes(bytes(data))
    with pytest.raises(InvalidInputError, match="corrupt") as info:
        read_artifact(artifact)
    assert WEIGHTS_FILE in info.value.message
    assert str(artifact) in info.value.message
    # Without verify, the hashes are not checked.
    read_artifact(artifact, verify=False)


def test_a_missing_model_file_is_missing(artifact: Path) -> None:
    (artifact / FEATURES_FILE).unlink()
    with pytest.raises(InvalidInputError, match="missing") as info:
        read_artifact(artifact)
    assert FEATURES_FILE in info.value.message


def _edit_metadata(artifact: Path, **changes: object) -> None:
    path = artifact / METADATA_FILE
    data = json.loads(path.read_text(encoding="utf-8"))
    data.update(changes)
    path.write_text(json.dumps(data), encoding="utf-8")


def test_another_text_function_version_is_refused(artifact: Path) -> None:
    _edit_metadata(artifact, text_fn_version="0-old")
    with pytest.raises(InvalidInputError) as info:
        read_artifact(artifact)
    assert "v0-old" in info.value.message
    assert f"v{TEXT_FN_VERSION}" in info.value.message
    assert str(artifact) in info.value.message


def test_another_format_version_is_refused(artifact: Path) -> None:
    _edit_metadata(artifact, format_version=FORMAT_VERSION + 1)
    with pytest.raises(InvalidInputError, match=f"artifact format {FORMAT_VERSION + 1}"):
        read_artifact(artifact)


def test_invalid_metadata(artifact: Path) -> None:
    (artifact / METADATA_FILE).write_text("{", encoding="utf-8")
    with pytest.raises(InvalidInputError, match="not valid artifact metadata"):
        read_artifact(artifact)
    (artifact / METADATA_FILE).write_text(
        json.dumps({"model_id": "m", "family": "forest"}), encoding="utf-8"
    )
    with pytest.raises(InvalidInputError, match="not valid artifact metadata"):
        read_artifact(artifact)


def test_not_an_artifact(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="no model artifact"):
        read_artifact(tmp_path / "nothing")
    with pytest.raises(InvalidInputError, match=f"{METADATA_FILE} is missing"):
        read_artifact(tmp_path)


def test_load_model_predicts(artifact: Path) -> None:
    loaded = load_model(artifact)
    assert loaded.metadata.model_id == "m-test"
    proba = loaded.classifier.predict_proba(["chaise de jardin", "un roman", "piscine"])
    assert loaded.codec.decode(proba.argmax(axis=1)).tolist() == [2582, 10, 2583]


def test_load_model_checks_outputs_against_the_codec(tmp_path: Path) -> None:
    path = write_artifact(tmp_path / "m", _metadata(), _codec(), _linear(n_classes=4).save)
    with pytest.raises(InvalidInputError, match="4 outputs but its label codec 3 classes"):
        load_model(path)


def test_load_model_refuses_a_family_whose_files_are_absent(tmp_path: Path) -> None:
    # A "transformer" artifact that carries linear files has no ONNX model to serve.
    path = write_artifact(tmp_path / "m", _metadata(family="transformer"), _codec(), _linear().save)
    with pytest.raises(InvalidInputError):
        load_model(path)


def test_locate_artifact(artifact: Path, tmp_path: Path) -> None:
    assert locate_artifact(artifact) == artifact
    # An MLflow model folder carries the artifact under artifacts/<name>/.
    mlflow_model = tmp_path / "mlflow-model"
    (mlflow_model / "artifacts").mkdir(parents=True)
    artifact.rename(mlflow_model / "artifacts" / "artifact")
    assert locate_artifact(mlflow_model) == mlflow_model / "artifacts" / "artifact"
    assert resolve_model_source(str(mlflow_model), tmp_path / "dl") == locate_artifact(mlflow_model)
    with pytest.raises(NotFoundError):
        locate_artifact(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidInputError, match="no model artifact found"):
        locate_artifact(tmp_path / "empty")

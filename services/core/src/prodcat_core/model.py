"""Loading an artifact as a ready classifier, whatever its family."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

from prodcat_core.artifact import METADATA_FILE, ArtifactMetadata, read_artifact
from prodcat_core.cpus import artifact_plan, available_cpus
from prodcat_core.errors import InvalidInputError, NotFoundError, UnavailableError
from prodcat_core.labels import LabelCodec
from prodcat_core.store import VersionStore


class TextClassifier(Protocol):
    def predict_proba(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """One row of class probabilities (in codec order) per text."""
        ...


@dataclass(frozen=True)
class LoadedModel:
    path: Path
    metadata: ArtifactMetadata
    codec: LabelCodec
    classifier: TextClassifier


def load_model(
    path: Path, *, intra_op_threads: int | None = None, parallel_calls: int = 1
) -> LoadedModel:
    """Reads and verifies an artifact folder and builds its classifier. For a transformer,
    `intra_op_threads` sizes each ONNX Runtime call (None: ONNX Runtime's default) and
    `parallel_calls` how many of one request's batches run at once."""
    metadata, codec = read_artifact(path)
    if metadata.family == "linear":
        # scikit-learn only when it is needed: it is most of the CLI's start-up otherwise.
        from prodcat_core.linear_model import LinearTextModel

        linear = LinearTextModel.load(path)
        classifier: TextClassifier = linear
        n_classes = linear.n_classes
    elif metadata.family == "transformer":
        from prodcat_core.onnx_model import OnnxTextModel  # onnxruntime only when it is needed

        onnx_model = OnnxTextModel.load(
            path, intra_op_threads=intra_op_threads, parallel_calls=parallel_calls
        )
        classifier = onnx_model
        n_classes = onnx_model.n_classes
    else:
        raise InvalidInputError(f"{path}: model family {metadata.family!r} is not supported here")
    if n_classes != codec.n_classes:
        raise InvalidInputError(
            f"{path}: the model has {n_classes} outputs but its label codec "
            f"{codec.n_classes} classes"
        )
    return LoadedModel(path, metadata, codec, classifier)


def load_bulk_model(
    path: Path, cpus: int | None = None, *, threads: int | None = None, calls: int | None = None
) -> LoadedModel:
    """A model for scoring many texts per call (files, evaluation splits), planned as the server
    plans it for `cpus` (default: all this process may use): a transformer's length-sorted
    batches run side by side, one thread each, which on 16 cores scored 2.5x the listings/s of
    one batch at a time on all threads (benchmarks/threads.py --bulk)."""
    plan = artifact_plan(path, cpus or available_cpus(), threads=threads, calls=calls)
    return load_model(path, intra_op_threads=plan.threads, parallel_calls=plan.calls)


def locate_artifact(folder: Path) -> Path:
    """The artifact inside `folder`: the folder itself, or the one an MLflow model carries under
    `artifacts/` (what `models:/…` URIs download to)."""
    if (folder / METADATA_FILE).is_file():
        return folder
    candidates = sorted(p.parent for p in folder.glob(f"artifacts/*/{METADATA_FILE}"))
    if len(candidates) == 1:
        return candidates[0]
    if not folder.exists():
        raise NotFoundError(f"{folder}: no such folder")
    raise InvalidInputError(f"{folder}: no model artifact found ({METADATA_FILE} is missing)")


# URIs that MLflow resolves (registry versions and aliases, run artifacts).
MLFLOW_URI_PREFIXES = ("models:/", "runs:/", "mlflow-artifacts:/")


def model_store(root: Path) -> VersionStore:
    """The local store of model artifacts (`m-<12 hex>` folders, `refs/latest`)."""
    return VersionStore(root, "m", "model")


def resolve_model_ref(
    ref: str, models_dir: Path, download_dir: Path, tracking_uri: str | None = None
) -> Path:
    """What a `--model` option names: a model id, 'latest', an artifact folder or an MLflow URI
    (downloaded into `download_dir`) -> the artifact folder."""
    if ref.startswith(MLFLOW_URI_PREFIXES):
        return resolve_model_source(ref, download_dir, tracking_uri)
    store = model_store(models_dir)
    if ref == "latest" or store.is_id(ref):
        return store.path(store.resolve(ref))
    if not Path(ref).is_dir():
        raise InvalidInputError(
            f"--model {ref!r}: not a model id, 'latest', an artifact folder or an MLflow URI"
        )
    return locate_artifact(Path(ref))


def resolve_model_source(source: str, download_dir: Path, tracking_uri: str | None = None) -> Path:
    """A local folder, or an MLflow URI (`models:/<name>@<alias>`, `models:/<name>/<version>`,
    `runs:/…`) downloaded into `download_dir` from `tracking_uri` (default: MLflow's own
    configuration); returns the artifact folder."""
    if source.startswith(MLFLOW_URI_PREFIXES):
        try:
            import mlflow  # only the stages that talk to the registry carry it
            from mlflow.exceptions import MlflowException

            from prodcat_core.registry import check_tracking_server
        except ImportError as e:
            raise UnavailableError(f"{source}: loading from MLflow needs the mlflow package") from e
        download_dir.mkdir(parents=True, exist_ok=True)
        if tracking_uri:
            check_tracking_server(tracking_uri)
            mlflow.set_tracking_uri(tracking_uri)
            mlflow.set_registry_uri(tracking_uri)
        try:
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=source, dst_path=str(download_dir)
            )
        except MlflowException as e:
            if "RESOURCE_DOES_NOT_EXIST" in str(e.error_code) or "not found" in str(e).lower():
                raise NotFoundError(f"{source}: not found in the MLflow registry") from e
            raise UnavailableError(f"{source}: MLflow could not serve it: {e.message}") from e
        except OSError as e:
            raise UnavailableError(f"{source}: MLflow is unreachable: {e}") from e
        return locate_artifact(Path(local))
    return locate_artifact(Path(source))

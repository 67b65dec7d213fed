"""One evaluation: score a model on the test and held-out splits, score the champion on the same
rows, apply the promotion gate, and record everything (report, plot, MLflow run, registry tags)."""

from __future__ import annotations

import logging
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import mlflow
import numpy as np
import numpy.typing as npt
from mlflow.exceptions import MlflowException
from pydantic import BaseModel

from prodcat_core.datasets import PreparedData, prepared_store
from prodcat_core.errors import InvalidInputError, UnavailableError
from prodcat_core.gate import GateDecision, GatePolicy, decide
from prodcat_core.logging import log_context
from prodcat_core.metrics import Scores, confusion, score
from prodcat_core.model import (
    MLFLOW_URI_PREFIXES,
    LoadedModel,
    load_bulk_model,
    resolve_model_ref,
    resolve_model_source,
)
from prodcat_core.registry import (
    CHAMPION,
    ModelRegistry,
    ModelVersionInfo,
    check_tracking_server,
)
from prodcat_core.store import MANIFEST, VersionStore, write_json_atomic
from prodcat_core.tracking import open_experiment
from prodcat_evaluate.config import EvaluateSettings
from prodcat_evaluate.plots import confusion_matrix_png

logger = logging.getLogger(__name__)

EVAL_SPLITS = ("test", "holdout")
REPORT_FILE = "report.json"
CONFUSION_FILE = "confusion_matrix.png"


class SplitReport(BaseModel):
    scores: Scores
    latency_ms_per_item: float


class ChampionReport(BaseModel):
    version: str
    model_id: str
    test: Scores


class EvaluationReport(BaseModel):
    evaluation_id: str
    created_at: datetime
    model_id: str
    model_path: str
    registry_version: str | None
    family: str
    dataset_id: str
    prepared_id: str
    synthetic: bool
    splits: dict[str, SplitReport]
    champion: ChampionReport | None
    gate: GateDecision
    promoted: bool
    files: dict[str, str]


@dataclass(frozen=True)
class EvaluationResult:
    report: EvaluationReport
    path: Path
    mlflow_run_id: str


def results_store(root: Path) -> VersionStore:
    return VersionStore(root, "ev", "evaluation")


def gate_policy(settings: EvaluateSettings) -> GatePolicy:
    return GatePolicy(
        min_weighted_f1=settings.gate_min_weighted_f1,
        min_improvement=settings.gate_min_improvement,
        max_class_drop=settings.gate_max_class_drop,
        min_class_support=settings.gate_min_class_support,
    )


def registry_version_of(
    registry: ModelRegistry, model: str, model_id: str
) -> ModelVersionInfo | None:
    """The registry version behind `model`: from its URI, else the one tagged with its model id."""
    if model.startswith("models:/"):
        ref = model.removeprefix("models:/")
        if "@" in ref:
            return registry.get_alias(ref.rsplit("@", 1)[1])
        version = ref.partition("/")[2]
        if version.isdigit():
            return registry.get_version(version)
    matches = [v for v in registry.versions() if v.model_id == model_id]
    return matches[-1] if matches else None


def predict_in_batches(
    loaded: LoadedModel, texts: list[str], batch_size: int
) -> tuple[npt.NDArray[np.float32], float]:
    """Probabilities for every text, and the wall time per item in milliseconds."""
    started = time.perf_counter()
    parts = [
        loaded.classifier.predict_proba(texts[i : i + batch_size])
        for i in range(0, len(texts), batch_size)
    ]
    elapsed = time.perf_counter() - started
    return np.vstack(parts), 1000.0 * elapsed / max(len(texts), 1)


def _score_champion(
    registry: ModelRegistry,
    data: PreparedData,
    settings: EvaluateSettings,
    download_dir: Path,
) -> ChampionReport | None:
    champion = registry.get_alias(CHAMPION)
    if champion is None:
        return None
    loaded = load_bulk_model(
        resolve_model_source(
            registry.alias_uri(CHAMPION), download_dir / "champion", settings.tracking_uri
        )
    )
    if tuple(loaded.codec.codes) != tuple(data.codec.codes):
        raise InvalidInputError(
            f"champion version {champion.version} has other classes than {data.id}: it cannot be "
            "compared on these rows"
        )
    frame = data.split("test")
    proba, _ = predict_in_batches(loaded, frame["text"].tolist(), settings.batch_size)
    scores = score(data.codec.encode(frame["prdtypecode"].to_numpy()), proba, data.codec)
    return ChampionReport(version=champion.version, model_id=loaded.metadata.model_id, test=scores)


def evaluate(
    model: str, prepared_ref: str, settings: EvaluateSettings, *, promote: bool = True
) -> EvaluationResult:
    check_tracking_server(settings.tracking_uri)  # fail before the work, not after it
    registry = ModelRegistry(settings.tracking_uri, settings.registered_model)
    data = PreparedData(prepared_store(settings.prepared_dir), prepared_ref)
    store = results_store(settings.results_dir)
    evaluation_id = f"ev-{uuid.uuid4().hex[:12]}"
    with tempfile.TemporaryDirectory(prefix="prodcat-eval-") as tmp:
        download_dir = Path(tmp)
        loaded = load_bulk_model(
            resolve_model_ref(
                model, settings.models_dir, download_dir / "candidate", settings.tracking_uri
            )
        )
        if tuple(data.codec.codes) != tuple(loaded.codec.codes):
            raise InvalidInputError(
                f"model {loaded.metadata.model_id} and {data.id} have different classes; "
                "evaluate a model on data with the same label codec"
            )
        version = registry_version_of(registry, model, loaded.metadata.model_id)
        with log_context(model_id=loaded.metadata.model_id, evaluation_id=evaluation_id):
            splits: dict[str, SplitReport] = {}
            matrices: dict[str, npt.NDArray[np.int64]] = {}
            for name in EVAL_SPLITS:
                frame = data.split(name)
                if frame.empty:
                    logger.warning("split %s of %s is empty: skipped", name, data.id)
                    continue
                y = data.codec.encode(frame["prdtypecode"].to_numpy())
                proba, latency = predict_in_batches(
                    loaded, frame["text"].tolist(), settings.batch_size
                )
                splits[name] = SplitReport(
                    scores=score(y, proba, data.codec), latency_ms_per_item=latency
                )
                matrices[name] = confusion(y, proba.argmax(axis=1), data.codec.n_classes)
                logger.info(
                    "%s: weighted F1 %.4f, macro F1 %.4f on %d rows",
                    name,
                    splits[name].scores.weighted_f1,
                    splits[name].scores.macro_f1,
                    len(frame),
                )
            if "test" not in splits:
                raise InvalidInputError(f"{data.id} has no test rows to evaluate on")
            is_champion = version is not None and CHAMPION in version.aliases
            champion = (
                None if is_champion else _score_champion(registry, data, settings, download_dir)
            )
            decision = decide(
                splits["test"].scores, champion.test if champion else None, gate_policy(settings)
            )
            if is_champion:
                decision = decision.model_copy(
                    update={"promote": False, "reasons": ["it is already the champion"]}
                )
            elif version is None:
                decision = decision.model_copy(
                    update={
                        "promote": False,
                        "reasons": [*decision.reasons, "it is not a registry version"],
                    }
                )
            report = EvaluationReport(
                evaluation_id=evaluation_id,
                created_at=datetime.now(UTC),
                model_id=loaded.metadata.model_id,
                model_path=model if model.startswith(MLFLOW_URI_PREFIXES) else str(loaded.path),
                registry_version=version.version if version else None,
                family=loaded.metadata.family,
                dataset_id=data.manifest.dataset_id,
                prepared_id=data.id,
                synthetic=data.manifest.synthetic,
                splits=splits,
                champion=champion,
                gate=decision,
                promoted=False,
                files={"report": REPORT_FILE, "confusion_matrix": CONFUSION_FILE},
            )
            if decision.promote and promote and version is not None:
                registry.promote(version.version, decision.summary())
                report = report.model_copy(update={"promoted": True})
            logger.info("gate: %s", decision.summary())
            path = _write_report(store, report, matrices["test"], data)
            run_id = _track(settings, report, path, version)
    return EvaluationResult(report, path, run_id)


def _write_report(
    store: VersionStore, report: EvaluationReport, matrix: npt.NDArray[np.int64], data: PreparedData
) -> Path:
    tag = " (SYNTHETIC data)" if report.synthetic else ""

    def build(tmp: Path) -> None:
        confusion_matrix_png(
            matrix,
            data.codec,
            tmp / CONFUSION_FILE,
            f"{report.model_id} on {data.id} test{tag}: "
            f"weighted F1 {report.splits['test'].scores.weighted_f1:.3f}",
        )
        write_json_atomic(tmp / REPORT_FILE, report.model_dump(mode="json"))
        write_json_atomic(
            tmp / MANIFEST,
            {"evaluation_id": report.evaluation_id, "created_at": report.created_at.isoformat()},
        )

    store.publish(report.evaluation_id, build)
    store.set_latest(report.evaluation_id)
    return store.path(report.evaluation_id)


def _track(
    settings: EvaluateSettings,
    report: EvaluationReport,
    path: Path,
    version: ModelVersionInfo | None,
) -> str:
    """The evaluation as an MLflow run (metrics, report, plot) and tags on the model version;
    returns the run's id."""
    experiment_id = open_experiment(settings)
    metrics = {
        f"{split}_{name}": value
        for split, rep in report.splits.items()
        for name, value in rep.scores.headline().items()
    } | {"promoted": float(report.promoted)}
    if report.champion:
        metrics["champion_test_weighted_f1"] = report.champion.test.weighted_f1
    tags = {
        "stage": "evaluate",
        "model_id": report.model_id,
        "evaluation_id": report.evaluation_id,
        "prepared_id": report.prepared_id,
        "gate": report.gate.summary()[:5000],
    }
    try:
        with mlflow.start_run(
            experiment_id=experiment_id, run_name=f"evaluate-{report.model_id}", tags=tags
        ) as run:
            mlflow.log_metrics(metrics)
            mlflow.log_artifact(str(path / REPORT_FILE))
            mlflow.log_artifact(str(path / CONFUSION_FILE))
    except MlflowException as e:
        raise UnavailableError(f"MLflow at {settings.tracking_uri}: {e.message}") from e
    if version is not None:
        registry = ModelRegistry(settings.tracking_uri, settings.registered_model)
        registry.tag(version.version, "evaluation_id", report.evaluation_id)
        registry.tag(version.version, "gate", report.gate.summary()[:5000])
    return str(run.info.run_id)


def latest_report(settings: EvaluateSettings) -> tuple[EvaluationReport, Path]:
    store = results_store(settings.results_dir)
    evaluation_id = store.resolve("latest")
    path = store.path(evaluation_id)
    return EvaluationReport.model_validate_json(
        (path / REPORT_FILE).read_text(encoding="utf-8")
    ), path

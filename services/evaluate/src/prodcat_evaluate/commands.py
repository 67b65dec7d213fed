"""`prodcat evaluate` and `prodcat summary`."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Annotated

import typer

from prodcat_evaluate.config import EvaluateSettings

if TYPE_CHECKING:
    from prodcat_evaluate.evaluation import EvaluationReport

logger = logging.getLogger(__name__)


def register(app: typer.Typer) -> None:
    app.command(name="evaluate")(evaluate)
    app.command(name="summary")(summary)


def render(report: EvaluationReport, where: str) -> str:
    synthetic = (
        "  (SYNTHETIC data: these scores say nothing about real listings)"
        if report.synthetic
        else ""
    )
    version = f", registry version {report.registry_version}" if report.registry_version else ""
    lines = [
        f"dataset    {report.dataset_id} -> prepared {report.prepared_id}{synthetic}",
        f"model      {report.model_id} ({report.family}{version}) at {report.model_path}",
    ]
    for name, split in report.splits.items():
        s = split.scores
        lines.append(
            f"{name:<10} weighted F1 {s.weighted_f1:.4f}  macro F1 {s.macro_f1:.4f}  "
            f"accuracy {s.accuracy:.4f}  ECE {s.ece:.3f}  ({s.n:,} rows, "
            f"{split.latency_ms_per_item:.3f} ms/item)"
        )
    if report.champion:
        lines.append(
            f"champion   version {report.champion.version} ({report.champion.model_id}): "
            f"test weighted F1 {report.champion.test.weighted_f1:.4f}"
        )
    if report.gate.promote and not report.promoted:
        lines.append(
            f"gate       passed, not promoted (promotion was off): {'; '.join(report.gate.reasons)}"
        )
    else:
        lines.append(f"gate       {report.gate.summary()}")
    lines.append(f"report     {where}/report.json, confusion matrix {where}/confusion_matrix.png")
    return "\n".join(lines)


def evaluate(
    model: Annotated[
        str, typer.Option(help="Model id (m-…), 'latest', an artifact folder or a models:/ URI.")
    ] = "latest",
    prepared: Annotated[
        str, typer.Option(help="Prepared dataset id (pp-…), or 'latest'.")
    ] = "latest",
    promote: Annotated[
        bool, typer.Option(help="Move 'champion' to this model when the gate passes.")
    ] = True,
) -> None:
    """Score a model on the test and held-out splits, compare it with the champion on the same
    rows and apply the promotion gate; write report.json, the confusion matrix and an MLflow run."""
    from prodcat_evaluate.evaluation import evaluate as run_evaluation  # mlflow: load on use

    result = run_evaluation(model, prepared, EvaluateSettings(), promote=promote)
    report = result.report
    # One machine-readable record for whoever launched the run (the data API's runners).
    logger.info(
        "evaluation result",
        extra={
            "result": {
                "model_id": report.model_id,
                "registry_version": report.registry_version,
                "evaluation_id": report.evaluation_id,
                "mlflow_run_id": result.mlflow_run_id,
                "gate": report.gate.summary(),
                "gate_passed": report.gate.promote,
                "promoted": report.promoted,
                "metrics": {
                    f"{split}_{name}": value
                    for split, rep in report.splits.items()
                    for name, value in rep.scores.headline().items()
                },
            }
        },
    )
    typer.echo(render(report, str(result.path)))
    typer.echo(f"MLflow run {result.mlflow_run_id}")


def summary() -> None:
    """Print the latest evaluation: dataset version, scores, gate, and where the artifacts are."""
    from prodcat_evaluate.evaluation import latest_report

    report, path = latest_report(EvaluateSettings())
    typer.echo(render(report, str(path)))

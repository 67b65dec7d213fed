"""`prodcat train`: the train stage as a CLI command (and a Kubernetes Job's command)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from prodcat_core.artifact import Family
from prodcat_core.errors import InvalidInputError
from prodcat_core.overrides import parse_overrides
from prodcat_train.config import TrainSettings

logger = logging.getLogger(__name__)


def register(app: typer.Typer) -> None:
    app.command(name="train")(train)


def read_params_file(path: Path, key: str) -> dict[str, Any]:
    """The mapping at dotted `key` of a YAML file (DVC's params.yaml)."""
    try:
        node: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise InvalidInputError(f"--params-file {path}: cannot read it: {e}") from e
    for part in key.split(".") if key else []:
        if not isinstance(node, dict) or part not in node:
            raise InvalidInputError(f"--params-file {path}: no key {key!r}")
        node = node[part]
    if not isinstance(node, dict):
        raise InvalidInputError(f"--params-file {path}: {key!r} is not a mapping of parameters")
    return {str(k): v for k, v in node.items()}


def train(
    prepared: Annotated[
        str, typer.Option(help="Prepared dataset id (pp-…), or 'latest'.")
    ] = "latest",
    family: Annotated[str, typer.Option(help="Model family: linear or transformer.")] = "linear",
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Override a family parameter, e.g. --set c=0.3 (repeatable)."),
    ] = None,
    params_file: Annotated[
        Path | None, typer.Option(help="YAML file with the family's parameters (e.g. params.yaml).")
    ] = None,
    params_key: Annotated[
        str, typer.Option(help="Dotted key of the parameters inside --params-file.")
    ] = "",
    run_key: Annotated[
        str | None,
        typer.Option(
            help="Key of a resumable transformer run (in Kubernetes the Job name): run again "
            "with the same key, it continues from its last checkpoint (env TRAIN_RUN_KEY).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Train a model on a prepared dataset and write its artifact under models/."""
    if family not in ("linear", "transformer"):
        raise InvalidInputError(f"--family {family!r}: expected linear or transformer")
    chosen: Family = "linear" if family == "linear" else "transformer"
    from prodcat_train.training import train as run_training  # mlflow and sklearn: load on use

    overrides = read_params_file(params_file, params_key) if params_file else {}
    overrides |= parse_overrides(set_ or [])
    settings = TrainSettings()
    if run_key:
        settings = settings.model_copy(update={"run_key": run_key})
    result = run_training(prepared, chosen, overrides, settings)
    # One machine-readable record for whoever launched the run (the data API's runners).
    logger.info(
        "training result",
        extra={
            "result": {
                "model_id": result.model_id,
                "registry_version": result.registry_version,
                "mlflow_run_id": result.run_id,
                "metrics": {
                    "val_weighted_f1": result.val.weighted_f1,
                    "val_macro_f1": result.val.macro_f1,
                    "train_seconds": result.seconds,
                },
            }
        },
    )
    typer.echo(
        f"trained {result.model_id} ({family}) in {result.seconds:.1f}s: validation weighted F1 "
        f"{result.val.weighted_f1:.4f}, macro F1 {result.val.macro_f1:.4f} -> {result.path}\n"
        f"MLflow run {result.run_id}; registered as version {result.registry_version} (challenger)"
    )

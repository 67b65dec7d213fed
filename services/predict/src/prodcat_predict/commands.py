"""`prodcat predict …`: serve the model, predict a file, or predict one listing."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from prodcat_core.errors import InvalidInputError
from prodcat_core.model import LoadedModel, load_bulk_model, resolve_model_ref
from prodcat_predict.config import PredictSettings
from prodcat_predict.threads import cpus_per_worker

predict_app = typer.Typer(help="Serve the model and predict product types.", no_args_is_help=True)

MODEL_HELP = (
    "Model id (m-…), 'latest', an artifact folder or an MLflow URI (models:/prodcat@champion)."
)


def register(app: typer.Typer) -> None:
    app.add_typer(predict_app, name="predict")


def _settings(**overrides: Any) -> PredictSettings:
    """The settings (PREDICT_* variables, then options); a bad value is an input error."""
    try:
        return PredictSettings(**overrides)
    except ValidationError as e:
        from prodcat_predict.errors import describe_validation_errors  # FastAPI: not at start-up

        problems = describe_validation_errors(e.errors())
        raise InvalidInputError(f"predictor settings (PREDICT_* / options): {problems}") from e


def _load(model: str, settings: PredictSettings) -> LoadedModel:
    """The model with the same thread plan as the server: a file's batches run in parallel."""
    path = resolve_model_ref(
        model, settings.models_dir, settings.download_folder(), settings.tracking_uri
    )
    return load_bulk_model(
        path,
        cpus_per_worker(workers=1),
        threads=settings.threads,
        calls=settings.inference_concurrency,
    )


@predict_app.command()
def text(
    designation: Annotated[str, typer.Argument(help="The listing's title.")],
    description: Annotated[
        str, typer.Option(help="The listing's description (HTML allowed).")
    ] = "",
    model: Annotated[str, typer.Option(help=MODEL_HELP)] = "latest",
) -> None:
    """Predict one listing's product type and print the top classes as JSON."""
    from prodcat_predict.pipeline import Listing, predictions, prepare  # FastAPI: not at start-up

    settings = _settings()
    loaded = _load(model, settings)
    if not designation.strip():
        raise InvalidInputError("designation is empty")
    batch = prepare([Listing(designation, description)], settings.max_text_chars)
    proba = loaded.classifier.predict_proba(batch.texts)
    (answer,) = predictions(proba, loaded.codec, settings.top_k, batch.truncated)
    typer.echo(
        json.dumps(
            {"model_id": loaded.metadata.model_id, **answer.as_dict()}, ensure_ascii=False, indent=2
        )
    )


@predict_app.command()
def batch(
    input_: Annotated[
        Path,
        typer.Option("--input", help="Listings: .csv or .parquet with designation[, description]."),
    ],
    output: Annotated[
        Path, typer.Option(help="Predictions: .csv or .parquet (written atomically).")
    ],
    model: Annotated[str, typer.Option(help=MODEL_HELP)] = "latest",
    chunk_rows: Annotated[int, typer.Option(min=1, help="Listings per model call.")] = 1024,
    inference_log: Annotated[
        str | None,
        typer.Option(
            help="Also append the answers to this inference log (folder or s3://), source "
            "'batch'; the output then gets a listing_id column."
        ),
    ] = None,
) -> None:
    """Predict every listing of a file; the other columns are kept, predictions appended."""
    from prodcat_predict.batch_predict import predict_frame, read_listings, write_predictions

    settings = _settings()
    loaded = _load(model, settings)
    frame = read_listings(input_)
    started = time.perf_counter()
    out, summary = predict_frame(
        frame, loaded, max_chars=settings.max_text_chars, chunk_rows=chunk_rows
    )
    seconds = time.perf_counter() - started
    if inference_log:
        _log_batch(inference_log, frame, out, loaded, settings, seconds)
    write_predictions(out, output)
    typer.echo(
        f"predicted {summary.rows:,} listings with {loaded.metadata.model_id} in {seconds:.1f}s "
        f"({summary.empty} without text, {summary.truncated} truncated) -> {output}"
    )


def _log_batch(
    uri: str, frame: Any, out: Any, loaded: LoadedModel, settings: PredictSettings, seconds: float
) -> None:
    from prodcat_predict.batch_log import log_batch

    written = log_batch(
        uri,
        frame,
        out,
        loaded,
        max_chars=settings.max_text_chars,
        seconds=seconds,
        keep_text=settings.inference_log_text == "full",
        model_name=settings.model_name,
    )
    typer.echo(f"inference log: {written:,} records -> {uri}")


@predict_app.command()
def serve(
    model_source: Annotated[
        str | None,
        typer.Option(
            help="Artifact folder, /mnt/models or models:/… URI (env PREDICT_MODEL_SOURCE)."
        ),
    ] = None,
    host: Annotated[str | None, typer.Option(help="Bind address (env PREDICT_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="HTTP port (env PREDICT_HTTP_PORT).")] = None,
    workers: Annotated[
        int | None, typer.Option(min=1, help="Server processes (env PREDICT_WORKERS).")
    ] = None,
) -> None:
    """Serve the model over HTTP (KServe V1, Open Inference V2, POST /v1/products:classify,
    /metrics) until SIGTERM. Every other setting comes from PREDICT_* variables."""
    chosen = {"model_source": model_source, "host": host, "http_port": port, "workers": workers}
    overrides: dict[str, Any] = {k: v for k, v in chosen.items() if v is not None}
    settings = _settings(**overrides)
    # kserve parses sys.argv with argparse when it is imported (and again in every worker it
    # spawns); our own arguments are not for it, and a prefix of one of its options would be.
    sys.argv = sys.argv[:1]
    from prodcat_predict.server import serve as run_server

    run_server(settings)

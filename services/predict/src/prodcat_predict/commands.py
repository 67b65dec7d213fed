"""`prodcat predict …`: serve the model, predict a file, or predict one listing."""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import ValidationError

from prodcat_core.cpus import available_cpus
from prodcat_core.errors import InvalidInputError, NotFoundError
from prodcat_core.model import LoadedModel, load_bulk_model, resolve_model_ref
from prodcat_predict.config import PredictSettings
from prodcat_predict.threads import cpus_per_worker

if TYPE_CHECKING:
    from prodcat_predict.batch_inputs import Location
    from prodcat_predict.batch_log import BatchLog, BatchLogTarget

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
        str,
        typer.Option(
            "--input",
            help="Listings: a .csv or .parquet file with designation[, description], or a folder "
            "of them; local, or s3://bucket/key (endpoint: PREDICT_S3_ENDPOINT_URL).",
        ),
    ],
    output: Annotated[
        Path,
        typer.Option(
            help="A .csv or .parquet file (one process), or a folder: one "
            "part-<i>-of-<n>.parquet per shard, then manifest.json and _SUCCESS."
        ),
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
    shard_index: Annotated[
        int | None,
        typer.Option(
            help="This shard (env PREDICT_SHARD_INDEX, or JOB_COMPLETION_INDEX in an Indexed "
            "Job; default 0)."
        ),
    ] = None,
    shard_count: Annotated[
        int | None,
        typer.Option(help="Shards the rows are split into (env PREDICT_SHARD_COUNT; default 1)."),
    ] = None,
    all_shards: Annotated[
        bool,
        typer.Option(
            help="Run every shard here, as parallel processes (at most one per CPU): what a "
            "local run does where a cluster runs an Indexed Job."
        ),
    ] = False,
) -> None:
    """Predict every listing of a file or a folder of files. Into a file: the other columns are
    kept, predictions appended. Into a folder: shard by shard, restartable (a shard whose part
    is there already is skipped)."""
    chosen = {"shard_index": shard_index, "shard_count": shard_count}
    settings = _settings(**{k: v for k, v in chosen.items() if v is not None})
    started = time.perf_counter()
    from prodcat_predict.batch_inputs import locate

    source = locate(input_, settings.s3_endpoint_url)
    if output.suffix.lower() in (".csv", ".parquet"):
        _batch_to_file(source, output, model, chunk_rows, settings, inference_log)
    else:
        _batch_shard(
            source, output, model, chunk_rows, settings, all_shards=all_shards, log=inference_log
        )
    typer.echo(f"done in {time.perf_counter() - started:.1f}s")


def _batch_to_file(
    input_: Location,
    output: Path,
    model: str,
    chunk_rows: int,
    settings: PredictSettings,
    inference_log: str | None,
) -> None:
    from prodcat_predict.batch_inputs import kind_of
    from prodcat_predict.batch_predict import predict_frame, read_listings, write_predictions

    if settings.shard_count != 1 or kind_of(input_) == "folder":
        raise InvalidInputError(
            f"--output {output}: shards and folder inputs write to a folder, not to one file"
        )
    loaded = _load(model, settings)
    frame = read_listings(input_)
    sink = _batch_log(inference_log, loaded, settings)
    out, summary = predict_frame(
        frame, loaded, max_chars=settings.max_text_chars, chunk_rows=chunk_rows, sink=sink
    )
    if sink is not None:
        typer.echo(f"inference log: {sink.close():,} records -> {sink.target.uri}")
    write_predictions(out, output)
    typer.echo(
        f"predicted {summary.rows:,} listings with {loaded.metadata.model_id} "
        f"({summary.empty} without text, {summary.truncated} truncated) -> {output}"
    )


def _log_target(uri: str | None, settings: PredictSettings) -> BatchLogTarget | None:
    from prodcat_predict.batch_log import BatchLogTarget

    if not uri:
        return None
    keep_text = settings.inference_log_text == "full"
    return BatchLogTarget(uri, keep_text, settings.model_name, settings.top_k)


def _batch_log(uri: str | None, loaded: LoadedModel, settings: PredictSettings) -> BatchLog | None:
    from prodcat_predict.batch_log import BatchLog

    target = _log_target(uri, settings)
    return None if target is None else BatchLog(target, loaded)


def _batch_shard(
    input_: Location,
    output: Path,
    model: str,
    chunk_rows: int,
    settings: PredictSettings,
    *,
    all_shards: bool,
    log: str | None,
) -> None:
    from prodcat_predict.shards import (
        Scoring,
        ShardPlan,
        check_shard,
        describe_shard,
        list_inputs,
        run_all_shards,
        run_shard,
    )

    index, count = settings.shard_index or 0, settings.shard_count
    check_shard(index, count)
    files = list_inputs(input_)  # all input checked before the model is fetched
    pinned, version = pin_model_ref(model, settings)
    loaded = _load(pinned, settings)
    plan = ShardPlan(files, count, loaded.metadata.model_id, version)
    scoring = Scoring(
        settings.max_text_chars, chunk_rows, settings.top_k, _log_target(log, settings)
    )
    if all_shards:
        processes = min(count, available_cpus())
        done = run_all_shards(plan, output, loaded.path, scoring, processes=processes)
    else:
        done = [run_shard(plan, index, output, loaded, scoring)]
    for shard in done:
        typer.echo(describe_shard(shard, plan, output))
    if any(shard.finished for shard in done):
        typer.echo(f"batch complete: {plan.rows:,} listings in {count} part(s) -> {output}")


def pin_model_ref(ref: str, settings: PredictSettings) -> tuple[str, str | None]:
    """An alias (`models:/<name>@<alias>`) resolved once to the version it names now, so every
    shard scores with the same model however the alias moves: (reference, registry version)."""
    match = re.fullmatch(r"models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/]+)|/(?P<version>[0-9]+))", ref)
    if match is None:
        return ref, None
    if match["version"]:
        return ref, match["version"]
    import mlflow  # only when a registry is named

    from prodcat_core.registry import ModelRegistry

    tracking_uri = settings.tracking_uri or mlflow.get_tracking_uri()
    found = ModelRegistry(tracking_uri, match["name"]).get_alias(match["alias"])
    if found is None:
        raise NotFoundError(f"--model {ref}: alias {match['alias']!r} is not set")
    return f"models:/{match['name']}/{found.version}", found.version


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

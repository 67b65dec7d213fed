"""`prodcat data …`: the data stages as CLI commands (the same commands run in containers).

pandas and the stages load inside the commands: `prodcat --help` imports every member's commands."""

from __future__ import annotations

import json
import logging
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from prodcat_data.config import DataSettings


class Grouping(StrEnum):
    """`SplitParams.group_by` as CLI choices."""

    designation = "designation"
    row = "row"


data_app = typer.Typer(
    help="Data stages: generate synthetic listings, import the challenge's files, preprocess.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    from prodcat_data.runs.commands import models_app, runs_app

    app.add_typer(data_app, name="data")
    app.add_typer(runs_app, name="runs")
    app.add_typer(models_app, name="models")


@data_app.command()
def generate(
    out: Annotated[
        Path, typer.Option(help="Folder for X_train_update.csv and Y_train_CVw08PX.csv.")
    ] = Path("data/raw/synthetic"),
    rows: Annotated[int, typer.Option(min=54, help="Number of listings.")] = 85_000,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same files.")] = 42,
) -> None:
    """Write SYNTHETIC listings in the challenge's exact file format (the demo and test data)."""
    from prodcat_data.synthetic import write_challenge_files

    x_path, y_path = write_challenge_files(out, rows, seed)
    typer.echo(f"wrote {rows:,} synthetic listings to {x_path} and {y_path}")


@data_app.command("import")
def import_(
    x: Annotated[
        str, typer.Option("--x", help="X file (designation, description, …): path or URL.")
    ],
    y: Annotated[str, typer.Option("--y", help="Y file (prdtypecode): path or URL.")],
    base: Annotated[
        str | None,
        typer.Option(
            help="Append to this dataset (ds-… or 'latest'): the new version is its rows plus "
            "these files' (duplicates dropped, conflicting labels reported)."
        ),
    ] = None,
) -> None:
    """Validate the challenge's X/Y files and store them as an immutable dataset version."""
    from prodcat_data.importer import import_dataset

    result = import_dataset(x, y, DataSettings(), base=base)
    m = result.manifest
    kind = "synthetic " if m.synthetic else ""
    if result.created and m.appended is not None:
        a = m.appended
        typer.echo(
            f"imported {result.dataset_id} = {a.base_dataset_id} + {a.rows_added:,} new rows: "
            f"{m.n_rows:,} {kind}rows, {len(m.class_counts)} classes; dropped "
            f"{a.duplicates_dropped:,} duplicates and {a.conflicts:,} conflicting labels "
            f"-> {result.path}"
        )
        for c in a.conflict_examples:
            typer.echo(
                f"conflict: row id {c.id} (productid {c.productid}) is labelled "
                f"{c.new_prdtypecode}, {a.base_dataset_id} id {c.base_id} has {c.base_prdtypecode}"
                " (kept)"
            )
    elif result.created:
        typer.echo(
            f"imported {result.dataset_id}: {m.n_rows:,} {kind}rows, {len(m.class_counts)} classes "
            f"-> {result.path}"
        )
    else:
        typer.echo(f"{result.dataset_id} is already imported from the same files: nothing to do")


@data_app.command()
def feedback(
    file: Annotated[
        Path,
        typer.Option(
            "--file",
            help="CSV of true labels: prdtypecode and listing_id (the id the predictor "
            "returned) or designation[,description].",
        ),
    ],
) -> None:
    """Store true labels of served listings (the same checks as POST /feedback)."""
    from prodcat_data.feedback import read_feedback_csv, record_feedback

    settings = DataSettings()
    items = read_feedback_csv(file, settings)
    receipt = record_feedback(items, settings, "cli", origin=f"{file.name}: row")
    typer.echo(
        f"stored {receipt.accepted:,} labels ({receipt.by_listing_id:,} by listing id, "
        f"{receipt.by_text:,} by text) in {settings.feedback_dir}"
    )


@data_app.command()
def preprocess(
    dataset: Annotated[str, typer.Option(help="Dataset id, or 'latest'.")] = "latest",
    val: Annotated[float, typer.Option(help="Validation fraction.")] = 0.1,
    test: Annotated[float, typer.Option(help="Test fraction.")] = 0.1,
    holdout: Annotated[
        float, typer.Option(help="Held-out fraction (never used for tuning).")
    ] = 0.05,
    seed: Annotated[int, typer.Option(help="Split seed.")] = 42,
    group_by: Annotated[
        Grouping,
        typer.Option(
            help="designation: listings with the same normalised designation stay in one split "
            "(honest test scores); row: every row split on its own (the old random split)."
        ),
    ] = Grouping.designation,
) -> None:
    """Clean the text, drop duplicates and split into train/val/test/holdout."""
    from prodcat_core.datasets import SplitParams
    from prodcat_data.preprocess import preprocess_dataset

    params = SplitParams(val=val, test=test, holdout=holdout, seed=seed, group_by=group_by.value)
    result = preprocess_dataset(dataset, params, DataSettings())
    m = result.manifest
    if result.created:
        counts = ", ".join(f"{k} {v:,}" for k, v in m.split_counts.items())
        typer.echo(
            f"prepared {result.prepared_id} from {m.dataset_id}: {counts}; dropped "
            f"{m.duplicates_dropped} duplicates, {m.conflicting_duplicates_dropped} conflicting, "
            f"{m.empty_text_dropped} empty; {m.split_groups:,} groups, {m.rows_kept_together:,} "
            f"rows kept with their group -> {result.path}"
        )
    else:
        typer.echo(f"{m.dataset_id} is already prepared as {result.prepared_id}: nothing to do")


@data_app.command("list")
def list_() -> None:
    """List dataset and prepared versions."""
    from prodcat_core.datasets import dataset_store, prepared_store

    settings = DataSettings()
    for store in (dataset_store(settings.datasets_dir), prepared_store(settings.prepared_dir)):
        for version in store.ids():
            manifest = store.manifest(version)
            rows = manifest.get("n_rows", sum(manifest.get("split_counts", {}).values()))
            tag = " synthetic" if manifest.get("synthetic") else ""
            typer.echo(f"{version}  {manifest['created_at']}  {rows:>9,} rows{tag}")


@data_app.command()
def show(version: Annotated[str, typer.Argument(help="A ds-… or pp-… id.")]) -> None:
    """Print a version's manifest as JSON."""
    from prodcat_core.datasets import dataset_store, prepared_store

    settings = DataSettings()
    store = (
        prepared_store(settings.prepared_dir)
        if version.startswith("pp-")
        else dataset_store(settings.datasets_dir)
    )
    typer.echo(json.dumps(store.manifest(store.resolve(version)), indent=2, ensure_ascii=False))


def _drop_color_message(record: logging.LogRecord) -> bool:
    """uvicorn adds an ANSI-coloured copy of each message; the log formats show extras."""
    record.__dict__.pop("color_message", None)
    return True


@data_app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (env DATA_API_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (env DATA_API_PORT).")] = None,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
) -> None:
    """Serve the data API (datasets, runs, models) with uvicorn."""
    import uvicorn

    for name in ("uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).addFilter(_drop_color_message)
    from prodcat_data.api.server import uvicorn_options

    settings = DataSettings()
    options: dict[str, Any] = {
        "host": host or settings.api_host,
        "port": port or settings.api_port,
        "log_config": None,  # the CLI configured logging already
        **uvicorn_options(settings),
    }
    if workers > 1:
        uvicorn.run(
            "prodcat_data.api.app:create_app_from_env", factory=True, workers=workers, **options
        )
        return
    from prodcat_data.api.app import create_app

    uvicorn.run(create_app(settings), **options)

"""`prodcat data …`: the data stages as CLI commands (the same commands run in containers)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated

import typer

from prodcat_core.datasets import SplitParams, dataset_store, prepared_store
from prodcat_core.store import write_json_atomic
from prodcat_data.config import DataSettings
from prodcat_data.importer import PROVENANCE_FILE, import_dataset
from prodcat_data.preprocess import preprocess_dataset

data_app = typer.Typer(
    help="Data stages: generate synthetic listings, import the challenge's files, preprocess.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(data_app, name="data")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


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
    write_json_atomic(
        out / PROVENANCE_FILE,
        {
            "generator": "prodcat_data.synthetic",
            "synthetic": True,
            "rows": rows,
            "seed": seed,
            "x_sha256": _sha256(x_path),
            "y_sha256": _sha256(y_path),
        },
    )
    typer.echo(f"wrote {rows:,} synthetic listings to {x_path} and {y_path}")


@data_app.command("import")
def import_(
    x: Annotated[
        str, typer.Option("--x", help="X file (designation, description, …): path or URL.")
    ],
    y: Annotated[str, typer.Option("--y", help="Y file (prdtypecode): path or URL.")],
) -> None:
    """Validate the challenge's X/Y files and store them as an immutable dataset version."""
    result = import_dataset(x, y, DataSettings())
    m = result.manifest
    kind = "synthetic " if m.synthetic else ""
    if result.created:
        typer.echo(
            f"imported {result.dataset_id}: {m.n_rows:,} {kind}rows, {len(m.class_counts)} classes "
            f"-> {result.path}"
        )
    else:
        typer.echo(f"{result.dataset_id} is already imported from the same files: nothing to do")


@data_app.command()
def preprocess(
    dataset: Annotated[str, typer.Option(help="Dataset id, or 'latest'.")] = "latest",
    val: Annotated[float, typer.Option(help="Validation fraction.")] = 0.1,
    test: Annotated[float, typer.Option(help="Test fraction.")] = 0.1,
    holdout: Annotated[
        float, typer.Option(help="Held-out fraction (never used for tuning).")
    ] = 0.05,
    seed: Annotated[int, typer.Option(help="Split seed.")] = 42,
) -> None:
    """Clean the text, drop duplicates and split into train/val/test/holdout."""
    params = SplitParams(val=val, test=test, holdout=holdout, seed=seed)
    result = preprocess_dataset(dataset, params, DataSettings())
    m = result.manifest
    if result.created:
        counts = ", ".join(f"{k} {v:,}" for k, v in m.split_counts.items())
        typer.echo(
            f"prepared {result.prepared_id} from {m.dataset_id}: {counts}; dropped "
            f"{m.duplicates_dropped} duplicates, {m.conflicting_duplicates_dropped} conflicting, "
            f"{m.empty_text_dropped} empty -> {result.path}"
        )
    else:
        typer.echo(f"{m.dataset_id} is already prepared as {result.prepared_id}: nothing to do")


@data_app.command("list")
def list_() -> None:
    """List dataset and prepared versions."""
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
    settings = DataSettings()
    store = (
        prepared_store(settings.prepared_dir)
        if version.startswith("pp-")
        else dataset_store(settings.datasets_dir)
    )
    typer.echo(json.dumps(store.manifest(store.resolve(version)), indent=2, ensure_ascii=False))

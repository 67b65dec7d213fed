"""`prodcat runs …` and `prodcat models …`: the API's run and model actions from the command line,
through the same service, runner and database as the API (DATA_* settings)."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Annotated, Any

import typer

from prodcat_core.errors import InvalidInputError
from prodcat_core.overrides import parse_overrides

if TYPE_CHECKING:
    from prodcat_data.runs.models import RunView
    from prodcat_data.runs.service import RunService

runs_app = typer.Typer(
    help="Train and evaluate runs, as local processes or Kubernetes Jobs (DATA_RUNNER).",
    no_args_is_help=True,
)
models_app = typer.Typer(
    help="The registry's champion and challenger: show, promote (through the gate), roll back.",
    no_args_is_help=True,
)


def _service() -> RunService:
    from prodcat_data.config import DataSettings
    from prodcat_data.runners import make_runner
    from prodcat_data.runs.db import open_database
    from prodcat_data.runs.service import RunService

    settings = DataSettings()
    return RunService(settings, open_database(settings.database()), make_runner(settings))


def _line(run: RunView) -> str:
    if run.kind in ("train", "retrain"):
        what = run.family
    else:
        what = run.model or f"version {run.model_version}"
    outcome = run.outcome.get("model_id") or ""
    reason = f"  ({run.reason})" if run.reason else ""
    return (
        f"{run.id}  {run.kind:<8} {run.state:<9} {run.created_at:%Y-%m-%d %H:%M:%S}  "
        f"{run.prepared_id or run.dataset_id or '-'}  {what or ''}  {outcome}{reason}".rstrip()
    )


def _echo(run: RunView, as_json: bool) -> None:
    if as_json:
        typer.echo(run.model_dump_json(indent=2))
        return
    typer.echo(_line(run))
    for key, value in run.outcome.get("metrics", {}).items():
        typer.echo(f"  {key:<22} {value:.4f}")
    if run.mlflow_run_url:
        typer.echo(f"  MLflow {run.mlflow_run_url}")
    for line in run.logs_tail or []:
        typer.echo(f"  | {line}")


def _wait(service: RunService, run: RunView, poll_s: float = 2.0) -> RunView:
    while run.state in ("pending", "running"):
        time.sleep(poll_s)
        run = service.get(run.id, logs=0)
    return run


def _finish(run: RunView, wait: bool) -> None:
    if wait and run.state != "succeeded":
        raise typer.Exit(1)


@runs_app.command("start")
def start(
    kind: Annotated[str, typer.Argument(help="train, evaluate, monitor, retrain or batch")],
    prepared: Annotated[
        str, typer.Option(help="Prepared dataset id (pp-…), or 'latest'.")
    ] = "latest",
    family: Annotated[str, typer.Option(help="train, retrain: model family.")] = "linear",
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="train, retrain: family parameter key=value (repeatable)."),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            help="evaluate: model id (m-…) or 'latest'; monitor: models:/name@alias, "
            "models:/name/version or m-… (default: the champion)."
        ),
    ] = None,
    model_version: Annotated[
        str | None,
        typer.Option(help="evaluate: registry version instead of a model id; batch: the version."),
    ] = None,
    input_: Annotated[
        str | None,
        typer.Option("--input", help="batch: listings file or folder, under the input root."),
    ] = None,
    output: Annotated[
        str | None, typer.Option(help="batch: output folder, under the output root.")
    ] = None,
    shards: Annotated[int, typer.Option(help="batch: shards (pods, or local processes).")] = 2,
    promote: Annotated[
        bool | None,
        typer.Option(
            help="evaluate: move champion to it if the gate passes (default no); retrain: "
            "default yes unless DATA_RETRAIN_REQUIRE_APPROVAL."
        ),
    ] = None,
    dataset: Annotated[
        str, typer.Option(help="retrain: dataset (ds-…) to prepare, or 'latest'.")
    ] = "latest",
    since: Annotated[str, typer.Option(help="monitor: window, e.g. 30m, 1h, 7d.")] = "1h",
    min_records: Annotated[
        int | None, typer.Option(help="monitor: fewer records is 'not enough data'.")
    ] = None,
    idempotency_key: Annotated[
        str | None, typer.Option(help="Retrying with the same key starts nothing new.")
    ] = None,
    wait: Annotated[
        bool, typer.Option(help="Wait until the run ends (exit 1 unless it succeeds).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the run as JSON.")] = False,
) -> None:
    """Start a train, evaluate, monitor, retrain or batch run (the same as POST /runs)."""
    from pydantic import TypeAdapter, ValidationError

    from prodcat_data.runs.models import RunRequest

    body: dict[str, Any] = {"kind": kind}
    if kind == "train":
        body |= {"prepared_id": prepared, "family": family, "params": parse_overrides(set_ or [])}
    elif kind == "evaluate":
        body |= {
            "prepared_id": prepared,
            "model": model,
            "model_version": model_version,
            "promote": bool(promote),
        }
    elif kind == "monitor":
        body |= {"model": model, "since": since, "min_records": min_records}
    elif kind == "retrain":
        body |= {
            "dataset_id": dataset,
            "family": family,
            "params": parse_overrides(set_ or []),
            "promote": promote,
        }
    elif kind == "batch":
        body = {
            "kind": kind,
            "input": input_,
            "output": output,
            "model_version": model_version,
            "shards": shards,
        }
    else:
        raise InvalidInputError(
            f"kind {kind!r}: expected train, evaluate, monitor, retrain or batch"
        )
    try:
        request = TypeAdapter(RunRequest).validate_python(body)
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'][1:]) or kind}: {err['msg']}"
            for err in e.errors()
        )
        raise InvalidInputError(f"invalid run: {problems}") from e
    service = _service()
    run, created = service.start(request, idempotency_key)
    if not created:
        typer.echo(f"{run.id} was started with this idempotency key already", err=True)
    if wait:
        run = _wait(service, run)
    _echo(run, as_json)
    _finish(run, wait)


@runs_app.command("list")
def list_(
    state: Annotated[str | None, typer.Option(help="Only runs in this state.")] = None,
    kind: Annotated[str | None, typer.Option(help="Only runs of this kind.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500, help="At most this many.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List runs, newest first."""
    from prodcat_data.runs.models import RUN_KINDS, RUN_STATES

    chosen_state = next((s for s in RUN_STATES if s == state), None)
    chosen_kind = next((k for k in RUN_KINDS if k == kind), None)
    if state is not None and chosen_state is None:
        raise InvalidInputError(f"--state {state!r}: expected one of {', '.join(RUN_STATES)}")
    if kind is not None and chosen_kind is None:
        raise InvalidInputError(f"--kind {kind!r}: expected one of {', '.join(RUN_KINDS)}")
    runs = _service().list(chosen_state, chosen_kind, limit)
    if as_json:
        typer.echo(json.dumps([r.model_dump(mode="json") for r in runs], indent=2))
        return
    for run in runs:
        typer.echo(_line(run))


@runs_app.command("show")
def show(
    run_id: Annotated[str, typer.Argument(help="Run id (r-…).")],
    logs: Annotated[int, typer.Option(min=0, max=1000, help="Log lines to show.")] = 20,
    wait: Annotated[
        bool, typer.Option(help="Wait until the run ends (exit 1 unless it succeeds).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show a run: state, outcome, metrics, MLflow link and the end of its log."""
    service = _service()
    run = service.get(run_id, logs=0)
    if wait:
        run = _wait(service, run)
    run = service.get(run_id, logs=logs)
    _echo(run, as_json)
    _finish(run, wait)


@runs_app.command("cancel")
def cancel(run_id: Annotated[str, typer.Argument(help="Run id (r-…).")]) -> None:
    """Cancel a run (stop its process or delete its Job)."""
    typer.echo(_line(_service().cancel(run_id)))


@models_app.command("show")
def models_show(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show the champion and the challenger (version, model id, metrics, promotion)."""
    from prodcat_data.runs.promotion import ModelsService

    view = ModelsService(_service()).show()
    if as_json:
        typer.echo(view.model_dump_json(indent=2))
        return
    for role, info in (("champion", view.champion), ("challenger", view.challenger)):
        if info is None:
            typer.echo(f"{role:<11} none")
            continue
        f1 = info.metrics.get("test_weighted_f1", info.metrics.get("val_weighted_f1"))
        score = f"  weighted F1 {f1:.4f}" if f1 is not None else ""
        since = f"  promoted {info.promoted_at}" if info.promoted_at else ""
        typer.echo(f"{role:<11} version {info.version} ({info.model_id}){score}{since}")


@models_app.command("promote")
def models_promote(
    version: Annotated[str, typer.Argument(help="Registry version to promote.")],
    prepared: Annotated[
        str | None, typer.Option(help="Prepared dataset to evaluate on (default: its own).")
    ] = None,
    idempotency_key: Annotated[str | None, typer.Option(help="Retries start nothing new.")] = None,
    wait: Annotated[bool, typer.Option(help="Wait for the gate's decision.")] = True,
) -> None:
    """Evaluate a version with promotion enabled: the promotion gate decides."""
    from pydantic import ValidationError

    from prodcat_data.runs.promotion import ModelsService, PromoteRequest

    try:
        request = PromoteRequest(version=version, prepared_id=prepared)
    except ValidationError as e:
        raise InvalidInputError(f"invalid promotion: {e.errors()[0]['msg']}") from e
    service = _service()
    run, _ = ModelsService(service).promote(request, idempotency_key)
    if wait:
        run = _wait(service, run)
    _echo(run, False)
    if wait and "gate" in run.outcome:
        typer.echo(f"gate: {run.outcome['gate']}")
    _finish(run, wait)


@models_app.command("rollback")
def models_rollback() -> None:
    """Move the champion back to the previous champion."""
    from prodcat_data.runs.promotion import ModelsService

    view = ModelsService(_service()).rollback()
    if view.champion is not None:
        typer.echo(f"champion is now version {view.champion.version} ({view.champion.model_id})")

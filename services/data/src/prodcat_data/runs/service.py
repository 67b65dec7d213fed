"""Runs: start (exactly once per idempotency key), list, show, cancel, and keep their state in
step with the runner. The API and the `prodcat runs` commands both go through this class.

State lives in the database and in the runner (a process and its run folder, or a Job), never in
the memory of one API process, so any number of API workers or replicas agree on every run."""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from sqlalchemy import Engine, func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from prodcat_core.datasets import dataset_store, prepared_store
from prodcat_core.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    ProdcatError,
    TooManyRequestsError,
)
from prodcat_core.logging import log_context
from prodcat_core.model import model_store
from prodcat_data.config import DataSettings
from prodcat_data.runners.base import (
    BatchArgs,
    Observed,
    Runner,
    RunRef,
    extract_outcome,
    monitor_args,
    retrain_args,
    stage_args,
)
from prodcat_data.runs.models import (
    ACTIVE_STATES,
    RUN_STATES,
    TERMINAL_STATES,
    AnyRunRequest,
    BatchRequest,
    EvaluateRequest,
    MonitorRequest,
    RetrainRequest,
    RunKind,
    RunState,
    RunView,
    TrainRequest,
    as_run_kind,
    check_run_id,
)
from prodcat_data.runs.schema import RunRecord

if TYPE_CHECKING:
    from prodcat_core.registry import ModelRegistry

logger = logging.getLogger(__name__)

OUTCOME_LOG_LINES = 400
MAX_KEY_CHARS = 255
# The key of the Postgres advisory lock that serialises run admissions ("prodcat" in ASCII, cut).
ADMISSION_LOCK = 0x70726F64636174


def new_run_id() -> str:
    return f"r-{uuid.uuid4().hex[:12]}"


def request_sha256(request: AnyRunRequest) -> str:
    """A stable digest of what was asked (defaults filled in), to tell a retry from a new body."""
    canonical = json.dumps(request.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def check_idempotency_key(key: str) -> str:
    if not key or len(key) > MAX_KEY_CHARS or not all("!" <= c <= "~" for c in key):
        raise InvalidInputError(
            f"Idempotency-Key: 1 to {MAX_KEY_CHARS} visible ASCII characters, no spaces"
        )
    return key


def _now() -> datetime:
    return datetime.now(UTC)


class RunService:
    def __init__(self, settings: DataSettings, engine: Engine, runner: Runner) -> None:
        self.settings = settings
        self.engine = engine
        self.runner = runner
        self.sessions = sessionmaker(engine, expire_on_commit=False)

    # Reading ------------------------------------------------------------------------------

    def _load(self, session: Session, run_id: str) -> RunRecord:
        record = session.get(RunRecord, check_run_id(run_id))
        if record is None:
            raise NotFoundError(f"run {run_id} not found")
        return record

    def _ref(self, record: RunRecord) -> RunRef:
        return RunRef(record.id, as_run_kind(record.kind), record.handle, record.created_at)

    def mlflow_url(self, outcome: dict[str, Any]) -> str | None:
        run = outcome.get("mlflow_run_id")
        base = self.settings.mlflow_ui_url or self.settings.tracking_uri
        if not isinstance(run, str) or urlparse(base).scheme not in ("http", "https"):
            return None
        return f"{base.rstrip('/')}/#/runs/{run}"

    def view(self, record: RunRecord, logs: int | None = None) -> RunView:
        state: RunState = next(s for s in RUN_STATES if s == record.state)
        tail = self.runner.logs_tail(self._ref(record), logs) if logs else None
        return RunView(
            id=record.id,
            kind=as_run_kind(record.kind),
            state=state,
            reason=record.reason,
            runner=record.runner,
            # A retrain records the dataset it prepares where other runs record what they read.
            prepared_id=record.prepared_id if record.prepared_id.startswith("pp-") else None,
            dataset_id=record.prepared_id if record.prepared_id.startswith("ds-") else None,
            family=record.family,
            params=record.params or {},
            model=record.model,
            model_version=record.model_version,
            promote=record.promote,
            created_at=record.created_at,
            started_at=record.started_at,
            finished_at=record.finished_at,
            exit_code=record.exit_code,
            outcome=record.outcome or {},
            mlflow_run_url=self.mlflow_url(record.outcome or {}),
            logs_tail=tail,
        )

    def get(self, run_id: str, *, logs: int | None = None) -> RunView:
        with self.sessions() as session:
            record = self._load(session, run_id)
        record = self.refresh(record)
        return self.view(record, self.settings.log_tail_lines if logs is None else logs)

    def list(
        self, state: RunState | None = None, kind: RunKind | None = None, limit: int = 100
    ) -> list[RunView]:
        query = select(RunRecord).order_by(RunRecord.created_at.desc(), RunRecord.id).limit(limit)
        if state is not None:
            query = query.where(RunRecord.state == state)
        if kind is not None:
            query = query.where(RunRecord.kind == kind)
        with self.sessions() as session:
            records = list(session.scalars(query))
        return [self.view(self.refresh(r)) for r in records]

    def counts(self) -> dict[str, int]:
        """Runs per state (the metrics gauge)."""
        with self.sessions() as session:
            rows = session.execute(select(RunRecord.state, func.count()).group_by(RunRecord.state))
            found = {str(state): int(n) for state, n in rows}
        return {state: found.get(state, 0) for state in RUN_STATES}

    # Starting -----------------------------------------------------------------------------

    def _replay(self, session: Session, key: str, digest: str) -> RunRecord | None:
        existing = session.scalars(
            select(RunRecord).where(RunRecord.idempotency_key == key)
        ).first()
        if existing is None:
            return None
        if existing.request_sha256 != digest:
            raise ConflictError(
                f"Idempotency-Key {key!r} was used for a different request (run {existing.id}); "
                "use a new key for a new run"
            )
        return existing

    def replayed(self, request: AnyRunRequest, idempotency_key: str | None) -> RunView | None:
        """The run this key started already for this request (409 for another request)."""
        if idempotency_key is None:
            return None
        key = check_idempotency_key(idempotency_key)
        with self.sessions() as session:
            existing = self._replay(session, key, request_sha256(request))
        return None if existing is None else self.view(self.refresh(existing))

    def registry(self) -> ModelRegistry:
        from prodcat_core.registry import ModelRegistry

        return ModelRegistry(self.settings.tracking_uri, self.settings.registered_model)

    def _resolve_version(self, version: str) -> tuple[str, str | None, str | None]:
        """(the stage's --model, model id, registry version) of a registry version."""
        registry = self.registry()
        info = registry.get_version(version)
        return f"models:/{registry.name}/{info.version}", info.model_id, info.version

    def _resolve_model(self, request: EvaluateRequest) -> tuple[str, str | None, str | None]:
        """(the stage's --model, model id, registry version) of an evaluate request."""
        if request.model_version is not None:
            return self._resolve_version(request.model_version)
        models = model_store(self.settings.models_dir)
        ref = request.model or "latest"
        if not models.root.is_dir():
            # This machine does not see the model store (the API pod in a cluster): the run checks.
            return ref, None if ref == "latest" else ref, None
        model_id = models.resolve(ref)
        return model_id, model_id, None

    def active_retrain(self) -> RunView | None:
        """The retrain run that is pending or running, if any (one runs at a time)."""
        query = select(RunRecord).where(
            RunRecord.kind == "retrain", RunRecord.state.in_(ACTIVE_STATES)
        )
        with self.sessions() as session:
            records = list(session.scalars(query))
        for record in records:
            if (fresh := self.refresh(record)).state in ACTIVE_STATES:
                return self.view(fresh)
        return None

    def _plan(self, request: AnyRunRequest) -> dict[str, Any]:
        """The record fields (stage arguments included) of a new run."""
        if isinstance(request, MonitorRequest):
            model = request.model or f"models:/{self.settings.registered_model}@champion"
            self._check_monitored_model(model)
            params: dict[str, Any] = {"since": request.since}
            if request.min_records is not None:
                params["min_records"] = request.min_records
            return {
                "prepared_id": "",
                "model": model,
                "params": params,
                "args": monitor_args(model, request.since, request.min_records),
            }
        if isinstance(request, BatchRequest):
            # A batch run reads listing files, not a prepared dataset.
            model_ref, model_id, version = self._resolve_version(request.model_version)
            batch = BatchArgs(
                str(self.settings.batch_input_root / request.input),
                str(self.settings.batch_output_root / request.output),
                request.shards,
            )
            return {
                "prepared_id": "",
                "model": model_id,
                "model_version": version,
                "params": {
                    "input": request.input,
                    "output": request.output,
                    "shards": request.shards,
                },
                "args": stage_args("batch", "", model=model_ref, batch=batch),
            }
        if isinstance(request, RetrainRequest):
            if (running := self.active_retrain()) is not None:
                raise ConflictError(
                    f"retraining {running.id} is {running.state}: one retraining runs at a time"
                )
            datasets = dataset_store(self.settings.datasets_dir)
            dataset_id = datasets.resolve(
                request.dataset_id
                if request.dataset_id == "latest"
                else datasets.check_id(request.dataset_id)
            )
            promote = request.promote is not False and not self.settings.retrain_require_approval
            return {
                "prepared_id": dataset_id,
                "family": request.family,
                "params": dict(request.params),
                "promote": promote,
                "args": retrain_args(dataset_id, request.family, request.params, promote=promote),
            }
        prepared_id = prepared_store(self.settings.prepared_dir).resolve(request.prepared_id)
        if isinstance(request, TrainRequest):
            return {
                "prepared_id": prepared_id,
                "family": request.family,
                "params": dict(request.params),
                "args": stage_args(
                    "train", prepared_id, family=request.family, params=request.params
                ),
            }
        model_ref, model_id, version = self._resolve_model(request)
        return {
            "prepared_id": prepared_id,
            "model": model_id,
            "model_version": version,
            "promote": request.promote,
            "args": stage_args("evaluate", prepared_id, model=model_ref, promote=request.promote),
        }

    def _check_monitored_model(self, model: str) -> None:
        """The model a monitor run judges exists (404 before anything starts, as for evaluate):
        an alias or version of the registered model, or an artifact id."""
        if model.startswith("m-"):
            models = model_store(self.settings.models_dir)
            if models.root.is_dir():  # else the API does not see the store: the run checks
                models.resolve(model)
            return
        name, _, ref = model.removeprefix("models:/").partition("@")
        name, _, version = name.partition("/")
        if name != self.settings.registered_model:
            raise InvalidInputError(
                f"model {model!r}: the registered model is {self.settings.registered_model!r}"
            )
        registry = self.registry()
        if version:
            registry.get_version(version)
        elif registry.get_alias(ref) is None:
            raise NotFoundError(f"model {model!r}: no version has the alias {ref!r}")

    def start(
        self, request: AnyRunRequest, idempotency_key: str | None = None
    ) -> tuple[RunView, bool]:
        """Starts a run, or returns the run this key started already. Returns (run, created)."""
        digest = request_sha256(request)
        key = check_idempotency_key(idempotency_key) if idempotency_key is not None else None
        if (existing_view := self.replayed(request, key)) is not None:
            return existing_view, False
        planned = {"params": {}} | self._plan(request)
        now = _now()
        record = RunRecord(
            id=new_run_id(),
            kind=request.kind,
            state="pending",
            **planned,
            idempotency_key=key,
            request_sha256=digest,
            runner=self.runner.name,
            node=getattr(self.runner, "node", None),
            outcome={},
            cancel_requested=False,
            created_at=now,
            updated_at=now,
        )
        if self._count_active() >= self.settings.max_active_runs:
            self.refresh_active()  # runs that ended since the last refresh free their slot now
        with self.sessions() as session:
            self._lock_admission(session)
            session.add(record)
            try:
                session.flush()
            except IntegrityError:
                # Another request (or replica) inserted this key first: that one starts the run.
                session.rollback()
                if key is None:
                    raise
                existing = self._replay(session, key, digest)
                if existing is None:
                    raise
                return self.view(self.refresh(existing)), False
            self._admit(session, record)
            session.commit()
        return self.view(self._launch(record)), True

    def _count_active(self, session: Session | None = None, *, besides: str = "") -> int:
        query = select(func.count()).where(
            RunRecord.state.in_(ACTIVE_STATES), RunRecord.id != besides
        )
        if session is not None:
            return int(session.scalar(query) or 0)
        with self.sessions() as own:
            return int(own.scalar(query) or 0)

    def _lock_admission(self, session: Session) -> None:
        """Serialises admissions over every API replica until `session` commits: on Postgres
        with a transaction-scoped advisory lock; on SQLite the record's INSERT takes the one
        write lock, which holds as long (so the count after it sees every committed run)."""
        if self.engine.dialect.name == "postgresql":
            session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADMISSION_LOCK})

    def _admit(self, session: Session, record: RunRecord) -> None:
        """Keeps at most `max_active_runs` pending or running, and one retraining, whichever
        replica started them (under the admission lock, so two replicas cannot both pass).
        A refused run leaves no record, so its idempotency key can start it later."""
        if record.kind == "retrain":
            other = session.scalar(
                select(RunRecord.id).where(
                    RunRecord.kind == "retrain",
                    RunRecord.state.in_(ACTIVE_STATES),
                    RunRecord.id != record.id,
                )
            )
            if other is not None:
                session.rollback()
                raise ConflictError(f"retraining {other} is active: one retraining runs at a time")
        limit = self.settings.max_active_runs
        if self._count_active(session, besides=record.id) < limit:
            return
        session.rollback()
        logger.info("run refused: %d runs are active (DATA_MAX_ACTIVE_RUNS)", limit)
        raise TooManyRequestsError(
            f"{limit} runs are already pending or running, the most this API starts at once "
            "(DATA_MAX_ACTIVE_RUNS); retry when one finishes"
        )

    def _launch(self, record: RunRecord) -> RunRecord:
        kind = as_run_kind(record.kind)
        with log_context(run_id=record.id):
            try:
                handle = self.runner.start(record.id, kind, list(record.args))
            except ProdcatError as e:
                logger.error("run %s could not start: %s", record.id, e.message)
                self._update(
                    record.id,
                    state="failed",
                    reason=f"could not start: {e.message}",
                    finished_at=_now(),
                )
                return self._reload(record.id)
            if not self._update(record.id, handle=handle):
                # Cancelled while it was being started: stop what was just started.
                self.runner.cancel(RunRef(record.id, kind, handle, record.created_at))
        return self.refresh(self._reload(record.id))

    # Keeping state ------------------------------------------------------------------------

    def _reload(self, run_id: str) -> RunRecord:
        with self.sessions() as session:
            return self._load(session, run_id)

    def _update(self, run_id: str, **values: Any) -> bool:
        """Updates a run that is still active; False when it has finished meanwhile."""
        values["updated_at"] = _now()
        with self.sessions() as session:
            result = session.execute(
                update(RunRecord)
                .where(RunRecord.id == run_id, RunRecord.state.in_(ACTIVE_STATES))
                .values(**values)
            )
            session.commit()
        return bool(getattr(result, "rowcount", 0))

    def _observable(self, record: RunRecord) -> bool:
        if record.state in TERMINAL_STATES or record.runner != self.runner.name:
            return False
        node = getattr(self.runner, "node", None)
        if node is not None and record.node not in (None, node):
            return False  # a local run on another machine: only that machine can see it
        age = (_now() - record.created_at).total_seconds()
        # A run another request is still launching: give it time before judging it.
        return not (record.handle is None and age < self.settings.local_start_grace_s)

    def refresh(self, record: RunRecord) -> RunRecord:
        """Brings an unfinished run's state up to date with its runner."""
        if not self._observable(record):
            return record
        ref = self._ref(record)
        try:
            observed = self.runner.status(ref)
        except ProdcatError as e:
            logger.warning("run %s: state unknown: %s", record.id, e.message)
            return record
        # A batch run's shards (from its Indexed Job) are shown while it runs.
        shards = {"shards": observed.shards} if observed.shards is not None else {}
        progressed = bool(shards) and shards["shards"] != (record.outcome or {}).get("shards")
        if not (self._changed(record, observed) or progressed):
            return record
        values: dict[str, Any] = {
            "state": observed.state,
            "reason": observed.reason,
            "exit_code": observed.exit_code,
            "started_at": observed.started_at or record.started_at,
            "outcome": {**(record.outcome or {}), **shards},
        }
        if observed.state in TERMINAL_STATES:
            values["finished_at"] = observed.finished_at or _now()
            values["outcome"] = {
                **extract_outcome(ref.kind, self.runner.logs_tail(ref, OUTCOME_LOG_LINES)),
                **shards,
            }
            logger.info("run %s %s", record.id, observed.state, extra={"run_id": record.id})
        self._update(record.id, **values)
        return self._reload(record.id)

    @staticmethod
    def _changed(record: RunRecord, observed: Observed) -> bool:
        return (
            observed.state != record.state
            or observed.reason != record.reason
            or (observed.started_at is not None and record.started_at is None)
        )

    def refresh_active(self) -> int:
        """Refreshes every unfinished run (on start and periodically); returns how many."""
        with self.sessions() as session:
            active = list(
                session.scalars(select(RunRecord).where(RunRecord.state.in_(ACTIVE_STATES)))
            )
        for record in active:
            try:
                self.refresh(record)
            except Exception:  # a boundary: one bad run must not stop the others' refresh
                logger.exception("run %s: refresh failed", record.id)
        return len(active)

    # Cancelling ---------------------------------------------------------------------------

    def cancel(self, run_id: str) -> RunView:
        record = self.refresh(self._reload(run_id))
        if record.state == "cancelled":
            return self.view(record)
        if record.state in TERMINAL_STATES:
            raise ConflictError(f"run {run_id} has already {record.state}: nothing to cancel")
        self.runner.cancel(self._ref(record))
        self._update(
            run_id,
            state="cancelled",
            reason="cancelled on request",
            cancel_requested=True,
            finished_at=_now(),
        )
        record = self._reload(run_id)
        if record.state != "cancelled":
            raise ConflictError(f"run {run_id} has already {record.state}: nothing to cancel")
        logger.info("run %s cancelled", run_id, extra={"run_id": run_id})
        return self.view(record)

"""`POST /alerts/alertmanager`: Alertmanager's webhook (payload version 4) as a retraining trigger.

When `DATA_RETRAIN_ON_ALERT` is on, a firing alert group starts one retrain run (preprocess the
newest dataset → train → evaluate with the gate). Alertmanager sends the same group again on every
`group_interval`/`repeat_interval`, and again after a restart: the run is keyed by the group and
the start of its episode (the earliest `startsAt` of its firing alerts), through the runs'
Idempotency-Key, so a repeat finds the run it started, from any replica. One retraining runs at a
time. Which alerts reach this receiver is the Alertmanager route's choice (the chart's
AlertmanagerConfig routes the model-health alerts only)."""

from __future__ import annotations

import hashlib
import hmac
import logging
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Response
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from prodcat_core.errors import ConflictError, InvalidInputError
from prodcat_data.api.context import ApiContext, get_context
from prodcat_data.api.errors import ErrorBody
from prodcat_data.runs.models import RetrainRequest, RunView

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/alerts", tags=["alerts"])
Context = Annotated[ApiContext, Depends(get_context)]

_LabelMap = dict[Annotated[str, Field(max_length=1024)], Annotated[str, Field(max_length=8192)]]


class UnauthorizedError(InvalidInputError):
    """The request lacks the credentials the route asks for."""

    status_code = 401


def _timestamp(value: object) -> datetime:
    """An RFC 3339 string, as Alertmanager sends it (not a number: strict like the document)."""
    if not isinstance(value, str):
        raise ValueError("must be an RFC 3339 timestamp string")  # noqa: TRY004 - pydantic wants ValueError
    return datetime.fromisoformat(value)


Timestamp = Annotated[datetime, BeforeValidator(_timestamp)]


class _Camel(BaseModel):
    # Alertmanager may add fields in later versions: unknown ones are ignored, known ones checked
    # strictly (a number is not a string, a string not a number).
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True, strict=True)


class AlertmanagerAlert(_Camel):
    status: Literal["firing", "resolved"]
    labels: _LabelMap
    annotations: _LabelMap = Field(default_factory=dict)
    starts_at: Timestamp = Field(alias="startsAt")
    ends_at: Timestamp | None = Field(None, alias="endsAt")
    generator_url: str = Field("", alias="generatorURL", max_length=8192)
    fingerprint: str = Field("", max_length=64)


class AlertmanagerWebhook(_Camel):
    """Alertmanager's webhook body (https://prometheus.io/docs/alerting/latest/configuration/
    #webhook_config)."""

    version: Literal["4"]
    group_key: str = Field(alias="groupKey", min_length=1, max_length=8192)
    truncated_alerts: int = Field(0, alias="truncatedAlerts", ge=0)
    status: Literal["firing", "resolved"]
    receiver: str = Field(max_length=1024)
    group_labels: _LabelMap = Field(alias="groupLabels")
    common_labels: _LabelMap = Field(alias="commonLabels")
    common_annotations: _LabelMap = Field(alias="commonAnnotations")
    external_url: str = Field(alias="externalURL", max_length=8192)
    alerts: list[AlertmanagerAlert] = Field(min_length=1, max_length=1000)


class AlertOutcome(BaseModel):
    started: bool = Field(description="a new retrain run was started for this notification")
    reason: str = Field(description="what was done, or why nothing was")
    run: RunView | None = Field(None, description="the run started, or the one that stands")


def episode_key(payload: AlertmanagerWebhook) -> str:
    """The Idempotency-Key of a firing group's episode: same group, same first start."""
    firing = [a.starts_at for a in payload.alerts if a.status == "firing"]
    episode = min(firing).isoformat()
    digest = hashlib.sha256(f"{payload.group_key}\n{episode}".encode()).hexdigest()
    return f"alertmanager-{digest[:40]}"


def _check_token(context: ApiContext, authorization: str | None) -> None:
    token = context.settings.alert_webhook_token
    if token is None:
        return
    expected = f"Bearer {token.get_secret_value()}".encode()
    if authorization is None or not hmac.compare_digest(authorization.encode(), expected):
        raise UnauthorizedError("missing or wrong bearer token (DATA_ALERT_WEBHOOK_TOKEN)")


@router.post(
    "/alertmanager",
    summary="Alertmanager webhook: start one retraining per firing alert group",
    description="Alertmanager's webhook JSON (version 4). With `DATA_RETRAIN_ON_ALERT` on, a "
    "firing group starts one retrain run (201); the same group repeated (same episode) answers "
    "200 with the run it started; while another retraining is active nothing starts (200). With "
    "`DATA_ALERT_WEBHOOK_TOKEN` set the request must carry `Authorization: Bearer <token>`.",
    status_code=201,
    responses={
        200: {"model": AlertOutcome, "description": "nothing new was started (the reason says)"},
        401: {"model": ErrorBody, "description": "missing or wrong bearer token"},
        422: {"model": ErrorBody, "description": "not an Alertmanager webhook body"},
    },
)
def alertmanager(
    payload: AlertmanagerWebhook,
    response: Response,
    context: Context,
    authorization: Annotated[str | None, Header(max_length=4096)] = None,
) -> AlertOutcome:
    _check_token(context, authorization)
    response.status_code = 200
    settings = context.settings
    if not settings.retrain_on_alert:
        logger.warning("alert group %s received, retraining on alerts is off", payload.group_key)
        return AlertOutcome(
            started=False, reason="retraining on alerts is off (DATA_RETRAIN_ON_ALERT=false)"
        )
    if payload.status == "resolved" or all(a.status == "resolved" for a in payload.alerts):
        return AlertOutcome(started=False, reason="the alert group is resolved")
    request = RetrainRequest(kind="retrain", family=settings.retrain_family)
    key = episode_key(payload)
    try:
        if (existing := context.runs.replayed(request, key)) is not None:
            return AlertOutcome(
                started=False,
                reason=f"this alert group started {existing.id} already",
                run=existing,
            )
        if (active := context.runs.active_retrain()) is not None:
            return AlertOutcome(
                started=False,
                reason=f"retraining {active.id} is {active.state}: one retraining runs at a time",
                run=active,
            )
        run, created = context.runs.start(request, key)
    except ConflictError as e:  # another replica started one meanwhile, or the family changed
        return AlertOutcome(started=False, reason=e.message)
    if created:
        response.status_code = 201
        logger.info(
            "alert group %s started retrain run %s",
            payload.group_key,
            run.id,
            extra={"run_id": run.id},
        )
    return AlertOutcome(
        started=created,
        reason="retraining started" if created else f"this alert group started {run.id} already",
        run=run,
    )

"""KubernetesRunner: a run is a `batch/v1` Job built from the chart's template.

The Helm chart renders the Job specs of the run kinds into a ConfigMap (keys `train.yaml`,
`evaluate.yaml`, `batch.yaml`, and with model health on `monitor.yaml` and `retrain.yaml`) mounted
at `DATA_JOB_TEMPLATE_DIR`. The runner changes only what makes the Job this run's: `metadata.name`,
the `prodcat.io/run-*` labels, the containers' args and, for a batch run, completions (its shards)
and parallelism. A run of several steps (retrain) is one Job whose init containers run the first
steps in order and whose `run` container runs the last: one pod, so the steps share its volumes
and a failed step fails the Job. Image,
resources, volumes, securityContext, service account, backoffLimit, activeDeadlineSeconds and
ttlSecondsAfterFinished are the chart's, so a Job started here and one rendered by the chart are
the same object.

RBAC the API's service account needs: jobs (batch) create/get/delete; pods list; pods/log get.
The chart's Role grants exactly the verbs of the client calls below; a chart test compares them."""

from __future__ import annotations

import copy
import dataclasses
import logging
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from prodcat_core.errors import ProdcatError, UnavailableError
from prodcat_data.config import DataSettings
from prodcat_data.runners.base import Observed, RunRef, shard_count
from prodcat_data.runners.supervise import split_steps
from prodcat_data.runs.models import RUN_KINDS, RunKind, check_run_id

logger = logging.getLogger(__name__)

NAME_PLACEHOLDER = "RUN_NAME"
CONTAINER = "run"
RUN_ID_LABEL = "prodcat.io/run-id"
RUN_KIND_LABEL = "prodcat.io/run-kind"
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"
_SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


class JobTemplateError(UnavailableError):
    """The Job template the chart mounted is missing or not what the runner can fill in."""


def job_name(kind: RunKind, run_id: str) -> str:
    """`prodcat-<kind>-<run id>`: a DNS-1123 label (at most 63 characters)."""
    name = f"prodcat-{kind}-{check_run_id(run_id)}"
    if not _DNS_LABEL.fullmatch(name):  # pragma: no cover - run ids and kinds make it one
        raise ProdcatError(f"{name!r} is not a valid Job name")
    return name


def _run_container(job: dict[str, Any], where: str) -> dict[str, Any]:
    try:
        containers = job["spec"]["template"]["spec"]["containers"]
    except (KeyError, TypeError) as e:
        raise JobTemplateError(f"{where}: no spec.template.spec.containers") from e
    found = [c for c in containers if isinstance(c, dict) and c.get("name") == CONTAINER]
    if len(found) != 1:
        raise JobTemplateError(f"{where}: expected exactly one container named {CONTAINER!r}")
    return found[0]


def check_job_template(template: Any, where: str) -> dict[str, Any]:
    """A template the runner can fill in: a batch/v1 Job named RUN_NAME whose `run` container
    runs `prodcat`."""
    if not isinstance(template, dict):
        raise JobTemplateError(f"{where}: not a YAML mapping")
    if template.get("apiVersion") != "batch/v1" or template.get("kind") != "Job":
        raise JobTemplateError(f"{where}: expected apiVersion batch/v1 and kind Job")
    metadata = template.get("metadata")
    if not isinstance(metadata, dict) or metadata.get("name") != NAME_PLACEHOLDER:
        raise JobTemplateError(f"{where}: metadata.name must be the placeholder {NAME_PLACEHOLDER}")
    container = _run_container(template, where)
    for step in [*_init_containers(template), container]:
        if step.get("command") != ["prodcat"]:
            raise JobTemplateError(
                f"{where}: the {step.get('name')!r} container's command must be [prodcat]"
            )
    return template


def _init_containers(job: dict[str, Any]) -> list[dict[str, Any]]:
    found = job["spec"]["template"]["spec"].get("initContainers") or []
    return [c for c in found if isinstance(c, dict)]


# Rendered only when the chart's model health is on: without them such runs cannot start.
OPTIONAL_KINDS: tuple[RunKind, ...] = ("monitor", "retrain")


def load_job_templates(folder: Path) -> dict[RunKind, dict[str, Any]]:
    """`<kind>.yaml` from the mounted ConfigMap: train, evaluate and batch always, monitor and
    retrain when the chart renders them."""
    templates: dict[RunKind, dict[str, Any]] = {}
    for kind in RUN_KINDS:
        path = folder / f"{kind}.yaml"
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except FileNotFoundError as e:
            if kind in OPTIONAL_KINDS:
                continue
            raise JobTemplateError(
                f"{path}: Job template missing (the chart mounts it; set DATA_JOB_TEMPLATE_DIR)"
            ) from e
        except yaml.YAMLError as e:
            raise JobTemplateError(f"{path}: not valid YAML: {e}") from e
        templates[kind] = check_job_template(loaded, str(path))
    return templates


def build_job(
    template: dict[str, Any], kind: RunKind, run_id: str, args: list[str]
) -> dict[str, Any]:
    """The run's Job: the template with its name, run labels and the containers' args set (the
    last step's in `run`, the others' in the init containers, in order); a batch run's Indexed Job
    also gets one completion per shard (and no more pods at once than shards)."""
    job = copy.deepcopy(template)
    if kind == "batch":
        shards = shard_count(args)
        spec = job["spec"]
        spec["completions"] = shards
        spec["parallelism"] = min(int(spec.get("parallelism") or shards), shards)
    name = job_name(kind, run_id)
    run_labels = {RUN_ID_LABEL: run_id, RUN_KIND_LABEL: kind}
    job["metadata"]["name"] = name
    job["metadata"]["labels"] = {**(job["metadata"].get("labels") or {}), **run_labels}
    pod = job["spec"]["template"]
    pod_metadata = pod.get("metadata") or {}
    pod_metadata["labels"] = {**(pod_metadata.get("labels") or {}), **run_labels}
    pod["metadata"] = pod_metadata
    steps = split_steps(args) or [[]]
    containers = [*_init_containers(job), _run_container(job, name)]
    if len(steps) != len(containers):
        raise JobTemplateError(
            f"{name}: the run has {len(steps)} step(s), its Job template {len(containers)} "
            "container(s) to run them"
        )
    for container, step in zip(containers, steps, strict=True):
        container["args"] = step
    return job


def _condition(job: client.V1Job, *types: str) -> client.V1JobCondition | None:
    for condition in (job.status.conditions if job.status else None) or []:
        if condition.type in types and condition.status == "True":
            return condition
    return None


def count_indexes(indexes: str | None) -> int:
    """How many indexes a Job status list names ("1,3-5" is 4)."""
    total = 0
    for item in (indexes or "").split(","):
        if item:
            low, _, high = item.partition("-")
            total += int(high or low) - int(low) + 1
    return total


def shard_progress(job: client.V1Job) -> dict[str, int] | None:
    """An Indexed Job's shards: total, completed and failed (None for other Jobs)."""
    if job.spec is None or job.spec.completion_mode != "Indexed":
        return None
    status = job.status or client.V1JobStatus()
    return {
        "total": int(job.spec.completions or 0),
        "completed": count_indexes(status.completed_indexes),
        "failed": count_indexes(status.failed_indexes),
    }


def job_state(job: client.V1Job) -> Observed:
    """A run's state from its Job's status and conditions."""
    observed = _job_state(job)
    shards = shard_progress(job)
    if shards is None:
        return observed
    return dataclasses.replace(observed, shards=shards)


def _job_state(job: client.V1Job) -> Observed:
    status = job.status or client.V1JobStatus()
    started = status.start_time
    if done := _condition(job, "Complete", "SuccessCriteriaMet"):
        return Observed(
            "succeeded", None, 0, started, status.completion_time or done.last_transition_time
        )
    if failed := _condition(job, "Failed", "FailureTarget"):
        why = failed.reason or "Failed"
        if why == "DeadlineExceeded":
            reason = (
                f"deadline exceeded: {failed.message or 'the Job ran past activeDeadlineSeconds'}"
            )
        else:
            reason = f"{why}: {failed.message}" if failed.message else why
        return Observed("failed", reason, None, started, failed.last_transition_time)
    if _condition(job, "Suspended"):
        return Observed("pending", "the Job is suspended", started_at=started)
    active = status.active or 0
    if active and (status.ready is None or status.ready > 0):
        return Observed("running", started_at=started)
    return Observed("pending", started_at=started)


def _namespace(settings: DataSettings) -> str:
    if settings.job_namespace:
        return settings.job_namespace
    try:
        return _SERVICE_ACCOUNT_NAMESPACE.read_text(encoding="utf-8").strip() or "default"
    except OSError:
        return "default"


class KubernetesRunner:
    name = "kubernetes"

    def __init__(
        self,
        templates: dict[RunKind, dict[str, Any]],
        namespace: str,
        batch: client.BatchV1Api,
        core: client.CoreV1Api,
    ) -> None:
        self.templates = templates
        self.namespace = namespace
        self.batch = batch
        self.core = core

    @classmethod
    def from_settings(cls, settings: DataSettings) -> KubernetesRunner:
        templates = load_job_templates(settings.job_template_dir)
        try:
            config.load_incluster_config()  # type: ignore[no-untyped-call]
        except ConfigException:
            try:
                config.load_kube_config()  # type: ignore[no-untyped-call]
            except (ConfigException, OSError) as e:
                raise UnavailableError(
                    f"no Kubernetes access: not in a cluster and no usable kubeconfig ({e})"
                ) from e
        api = client.ApiClient()
        return cls(templates, _namespace(settings), client.BatchV1Api(api), client.CoreV1Api(api))

    def build(self, run_id: str, kind: RunKind, args: list[str]) -> dict[str, Any]:
        if kind not in self.templates:
            raise JobTemplateError(
                f"no Job template for {kind} runs: the chart renders it with modelHealth.enabled"
            )
        return build_job(self.templates[kind], kind, run_id, args)

    def start(self, run_id: str, kind: RunKind, args: list[str]) -> str:
        manifest = self.build(run_id, kind, args)
        name = str(manifest["metadata"]["name"])
        body = client.V1Job.from_dict(manifest)
        if body is None:  # pragma: no cover - from_dict returns None only for None
            raise JobTemplateError(f"run {run_id}: the Job manifest is empty")
        try:
            self.batch.create_namespaced_job(self.namespace, body)
        except ApiException as e:
            if e.status == 409:  # created by an earlier attempt for this run: same name, same run
                logger.info("Job %s exists already", name)
                return name
            raise UnavailableError(
                f"run {run_id}: Kubernetes refused Job {name} (HTTP {e.status}: {e.reason})"
            ) from e
        logger.info("created Job %s in %s", name, self.namespace)
        return name

    def status(self, ref: RunRef) -> Observed:
        name = ref.handle or job_name(ref.kind, ref.run_id)
        try:
            job = self.batch.read_namespaced_job(name, self.namespace)
        except ApiException as e:
            if e.status == 404:
                return Observed(
                    "failed",
                    f"lost: Job {name} no longer exists (deleted, or removed by its TTL before "
                    "its outcome was read)",
                    finished_at=datetime.now(UTC),
                )
            raise UnavailableError(f"Job {name}: Kubernetes error HTTP {e.status}") from e
        return job_state(job)

    def logs_tail(self, ref: RunRef, lines: int) -> list[str]:
        if lines <= 0:
            return []
        name = ref.handle or job_name(ref.kind, ref.run_id)
        try:
            pods = self.core.list_namespaced_pod(
                self.namespace, label_selector=f"{JOB_NAME_LABEL}={name}"
            ).items
            if not pods:
                return []
            newest = max(
                pods,
                key=lambda p: (
                    (p.metadata.creation_timestamp if p.metadata else None)
                    or datetime.min.replace(tzinfo=UTC)
                ),
            )
            if newest.metadata is None or newest.metadata.name is None:
                return []
            text = self.core.read_namespaced_pod_log(
                newest.metadata.name, self.namespace, container=CONTAINER, tail_lines=lines
            )
        except ApiException as e:  # a pod not started yet has no log: not an error for a tail
            logger.debug("no log for Job %s: HTTP %s", name, e.status)
            return []
        return str(text).splitlines()[-lines:]

    def cancel(self, ref: RunRef) -> None:
        name = ref.handle or job_name(ref.kind, ref.run_id)
        try:
            self.batch.delete_namespaced_job(name, self.namespace, propagation_policy="Foreground")
        except ApiException as e:
            if e.status != 404:
                raise UnavailableError(f"Job {name}: could not delete (HTTP {e.status})") from e
        logger.info("deleted Job %s", name)

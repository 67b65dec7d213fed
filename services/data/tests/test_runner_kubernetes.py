"""KubernetesRunner without a cluster: the Job it builds from a chart-like template (validated
strictly against the Kubernetes 1.31 schema), its state mapping on real V1Job objects, and its API
calls through the real kubernetes client with the HTTP transport replaced (the HTTP-less
boundary): what it POSTs, GETs and DELETEs."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlparse

import kubernetes_validate
import pytest
import yaml
from kubernetes import client
from kubernetes.client import rest

from prodcat_core.errors import UnavailableError
from prodcat_data.runners.base import RunRef, stage_args
from prodcat_data.runners.kubernetes import (
    JobTemplateError,
    KubernetesRunner,
    build_job,
    check_job_template,
    count_indexes,
    job_name,
    job_state,
    load_job_templates,
)
from prodcat_data.runs.models import RunKind

K8S_VERSION = "1.31"
RUN_ID = "r-0123456789ab"
NAMESPACE = "prodcat"

# What the chart's ConfigMap holds (charts/prodcat/templates/_helpers.tpl, prodcat.runJob).
TEMPLATE_YAML = """
apiVersion: batch/v1
kind: Job
metadata:
  name: RUN_NAME
  labels:
    app.kubernetes.io/name: prodcat
    app.kubernetes.io/instance: prodcat
    app.kubernetes.io/component: {stage}
    app.kubernetes.io/part-of: prodcat
    app.kubernetes.io/version: "0.1.0"
    app.kubernetes.io/managed-by: Helm
    prodcat.io/stage: {stage}
spec:
  backoffLimit: 0
  activeDeadlineSeconds: 21600
  ttlSecondsAfterFinished: 86400
  template:
    metadata:
      labels:
        app.kubernetes.io/name: prodcat
        app.kubernetes.io/instance: prodcat
        app.kubernetes.io/component: {stage}
        prodcat.io/stage: {stage}
    spec:
      restartPolicy: Never
      serviceAccountName: prodcat-runs
      automountServiceAccountToken: false
      enableServiceLinks: false
      securityContext:
        runAsNonRoot: true
        runAsUser: 10001
        fsGroup: 10001
        seccompProfile: {{type: RuntimeDefault}}
      containers:
        - name: run
          image: ghcr.io/prodcat/prodcat-{stage}:0.1.0
          imagePullPolicy: IfNotPresent
          command: ["prodcat"]
          args: ["{stage}", "--prepared", "latest"]
          env:
            - {{name: PRODCAT_LOG_FORMAT, value: json}}
          resources:
            requests: {{cpu: 500m, memory: 1Gi}}
            limits: {{memory: 4Gi}}
          securityContext:
            readOnlyRootFilesystem: true
            allowPrivilegeEscalation: false
            capabilities: {{drop: [ALL]}}
          volumeMounts:
            - {{name: tmp, mountPath: /tmp}}
            - {{name: data, mountPath: /data, readOnly: true}}
      volumes:
        - name: tmp
          emptyDir: {{sizeLimit: 1Gi}}
        - name: data
          persistentVolumeClaim: {{claimName: prodcat-data}}
"""


def template(stage: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(TEMPLATE_YAML.format(stage=stage))
    return loaded


def validate_strict(obj: dict[str, Any]) -> None:
    """Strict validation against Kubernetes 1.31: unknown fields fail, a missing schema fails."""
    kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


@pytest.fixture
def templates(tmp_path: Any) -> dict[RunKind, dict[str, Any]]:
    # What the chart renders by default: model health (monitor, retrain) is off.
    for stage in ("train", "evaluate", "batch"):
        (tmp_path / f"{stage}.yaml").write_text(TEMPLATE_YAML.format(stage=stage))
    return load_job_templates(tmp_path)


# The Job it builds ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["train", "evaluate"])
def test_the_job_is_the_template_with_name_labels_and_args(kind: Any) -> None:
    args = stage_args(
        kind, "pp-3f2a9c0d1e4b", params={"word_max_features": 20000}, model="m-0123456789ab"
    )
    job = build_job(template(kind), kind, RUN_ID, args)

    validate_strict(job)
    assert job["metadata"]["name"] == f"prodcat-{kind}-{RUN_ID}"
    assert len(job["metadata"]["name"]) <= 63
    labels = job["metadata"]["labels"]
    assert labels["prodcat.io/run-id"] == RUN_ID
    assert labels["prodcat.io/run-kind"] == kind
    assert labels["app.kubernetes.io/component"] == kind  # the template's labels are kept
    assert job["spec"]["template"]["metadata"]["labels"]["prodcat.io/run-id"] == RUN_ID
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["prodcat"]
    assert container["args"] == args

    # Everything else is the template's, untouched.
    expected = template(kind)
    expected["metadata"]["name"] = job["metadata"]["name"]
    expected["metadata"]["labels"] = labels
    expected["spec"]["template"]["metadata"]["labels"] = job["spec"]["template"]["metadata"][
        "labels"
    ]
    expected["spec"]["template"]["spec"]["containers"][0]["args"] = args
    assert job == expected
    assert job["spec"]["backoffLimit"] == 0
    assert job["spec"]["activeDeadlineSeconds"] == 21600
    assert job["spec"]["ttlSecondsAfterFinished"] == 86400


def test_building_a_job_does_not_change_the_template() -> None:
    original = template("train")
    kept = copy.deepcopy(original)
    build_job(original, "train", RUN_ID, ["train"])
    assert original == kept


def test_strict_validation_fails_on_unknown_fields_and_missing_schemas() -> None:
    job = build_job(template("train"), "train", RUN_ID, ["train"])
    job["spec"]["notAField"] = 1
    with pytest.raises(kubernetes_validate.ValidationError):
        validate_strict(job)
    with pytest.raises(kubernetes_validate.SchemaNotFoundError):
        validate_strict(
            {"apiVersion": "prodcat.io/v1", "kind": "NoSuchKind", "metadata": {"name": "x"}}
        )


def test_job_names_are_dns_labels() -> None:
    assert job_name("evaluate", "r-ffffffffffff") == "prodcat-evaluate-r-ffffffffffff"
    with pytest.raises(Exception, match="not a run id"):
        job_name("train", "../x")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t["metadata"].update(name="fixed"), "placeholder RUN_NAME"),
        (lambda t: t.update(kind="CronJob"), "batch/v1 and kind Job"),
        (
            lambda t: t["spec"]["template"]["spec"]["containers"][0].update(name="main"),
            "named 'run'",
        ),
        (
            lambda t: t["spec"]["template"]["spec"]["containers"][0].update(command=["sh"]),
            "command",
        ),
    ],
)
def test_a_template_the_runner_cannot_fill_is_refused(change: Any, message: str) -> None:
    broken = template("train")
    change(broken)
    with pytest.raises(JobTemplateError, match=message):
        check_job_template(broken, "train.yaml")


def test_missing_templates_are_a_clear_error(tmp_path: Any) -> None:
    with pytest.raises(JobTemplateError, match="DATA_JOB_TEMPLATE_DIR"):
        load_job_templates(tmp_path)


def test_model_health_runs_need_their_templates(runner: KubernetesRunner) -> None:
    """monitor.yaml and retrain.yaml exist only with the chart's modelHealth.enabled: without
    them those runs cannot start (a 503 saying why), the others still can."""
    assert set(runner.templates) == {"train", "evaluate", "batch"}
    for kind in ("monitor", "retrain"):
        with pytest.raises(JobTemplateError, match=r"modelHealth\.enabled"):
            runner.build(RUN_ID, kind, [kind])


def test_a_run_of_several_steps_needs_as_many_containers() -> None:
    """A retrain run's steps fill the init containers, then `run`; a template with another
    number of containers is refused rather than run with a step missing."""
    job = template("retrain")
    with pytest.raises(JobTemplateError, match="3 step"):
        build_job(job, "retrain", RUN_ID, ["data", "preprocess", ";", "train", ";", "evaluate"])


# Its state, from real V1Job objects -----------------------------------------------------------

T0 = datetime(2025, 1, 1, 10, 0, tzinfo=UTC)
T1 = datetime(2025, 1, 1, 10, 5, tzinfo=UTC)


def v1job(status: client.V1JobStatus | None) -> client.V1Job:
    return client.V1Job(
        api_version="batch/v1",
        kind="Job",
        metadata=client.V1ObjectMeta(name=f"prodcat-train-{RUN_ID}", namespace=NAMESPACE),
        status=status,
    )


def condition(
    kind: str, reason: str | None = None, message: str | None = None
) -> client.V1JobCondition:
    return client.V1JobCondition(
        type=kind, status="True", reason=reason, message=message, last_transition_time=T1
    )


def test_a_new_job_is_pending() -> None:
    assert job_state(v1job(None)).state == "pending"
    assert job_state(v1job(client.V1JobStatus())).state == "pending"
    # A pod exists but is not running yet (image pull, scheduling).
    waiting = job_state(v1job(client.V1JobStatus(active=1, ready=0, start_time=T0)))
    assert waiting.state == "pending"
    assert waiting.started_at == T0


def test_a_job_with_a_ready_pod_is_running() -> None:
    observed = job_state(v1job(client.V1JobStatus(active=1, ready=1, start_time=T0)))
    assert observed.state == "running"
    assert observed.started_at == T0


def test_a_complete_job_succeeded() -> None:
    status = client.V1JobStatus(
        succeeded=1,
        start_time=T0,
        completion_time=T1,
        conditions=[condition("SuccessCriteriaMet"), condition("Complete")],
    )
    observed = job_state(v1job(status))
    assert (observed.state, observed.exit_code, observed.finished_at) == ("succeeded", 0, T1)


def test_a_failed_job_failed_with_its_reason() -> None:
    status = client.V1JobStatus(
        failed=1,
        start_time=T0,
        conditions=[
            condition(
                "FailureTarget",
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit",
            ),
            condition(
                "Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit"
            ),
        ],
    )
    observed = job_state(v1job(status))
    assert observed.state == "failed"
    assert observed.reason == "BackoffLimitExceeded: Job has reached the specified backoff limit"
    assert observed.finished_at == T1


def test_a_job_past_its_deadline_failed_with_that_reason() -> None:
    status = client.V1JobStatus(
        active=0,
        start_time=T0,
        conditions=[
            condition("Failed", "DeadlineExceeded", "Job was active longer than specified deadline")
        ],
    )
    observed = job_state(v1job(status))
    assert observed.state == "failed"
    assert (observed.reason or "").startswith("deadline exceeded")


def test_conditions_that_are_not_true_do_not_count() -> None:
    status = client.V1JobStatus(
        active=1,
        ready=1,
        conditions=[client.V1JobCondition(type="Failed", status="False")],
    )
    assert job_state(v1job(status)).state == "running"


def test_a_suspended_job_is_pending() -> None:
    observed = job_state(v1job(client.V1JobStatus(conditions=[condition("Suspended")])))
    assert observed.state == "pending"


@pytest.mark.parametrize(
    ("indexes", "count"), [(None, 0), ("", 0), ("3", 1), ("0,2-3", 3), ("0-9,11,20-21", 13)]
)
def test_index_lists_are_counted(indexes: str | None, count: int) -> None:
    assert count_indexes(indexes) == count


def test_an_indexed_job_reports_its_shards() -> None:
    job = v1job(
        client.V1JobStatus(
            active=1, ready=1, start_time=T0, completed_indexes="0,2-3", failed_indexes="4"
        )
    )
    job.spec = client.V1JobSpec(
        completion_mode="Indexed", completions=6, template=client.V1PodTemplateSpec()
    )
    observed = job_state(job)
    assert observed.state == "running"
    assert observed.shards == {"total": 6, "completed": 3, "failed": 1}
    assert job_state(v1job(client.V1JobStatus(active=1, ready=1))).shards is None


# Its API calls, through the real client with a fake transport ---------------------------------


class _Response:
    def __init__(self, status: int, body: Any) -> None:
        self.status = status
        self.reason = "OK" if status < 400 else "Error"
        text = isinstance(body, str)
        self.data = (body if text else json.dumps(body)).encode()
        self.headers = {"content-type": "text/plain" if text else "application/json"}


class FakeApiServer:
    """Stands in for urllib3 under kubernetes.client: records each request, answers like the
    API server would for Jobs, pods and logs of one namespace."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, list[str]], Any]] = []
        self.jobs: dict[str, dict[str, Any]] = {}
        self.log = "line 1\nline 2\ntrained m-0123456789ab (linear)\n"

    def request(
        self,
        method: str,
        url: str,
        headers: Any = None,
        body: Any = None,
        post_params: Any = None,
        _request_timeout: Any = None,
    ) -> rest.RESTResponse:
        parsed = urlparse(url)
        query = parse_qs(parsed.query)
        self.requests.append((method, parsed.path, query, body))
        response = rest.RESTResponse(self._answer(method, parsed.path, body))
        response.read()  # type: ignore[no-untyped-call]
        return response

    def _answer(self, method: str, path: str, body: Any) -> _Response:
        jobs = f"/apis/batch/v1/namespaces/{NAMESPACE}/jobs"
        if method == "POST" and path == jobs:
            name = body["metadata"]["name"]
            if name in self.jobs:
                return _Response(409, {"kind": "Status", "reason": "AlreadyExists", "code": 409})
            self.jobs[name] = body
            return _Response(201, body)
        if path.startswith(jobs + "/"):
            name = path.rsplit("/", 1)[1]
            if name not in self.jobs:
                return _Response(404, {"kind": "Status", "reason": "NotFound", "code": 404})
            if method == "DELETE":
                del self.jobs[name]
                return _Response(200, {"kind": "Status", "status": "Success"})
            job = dict(self.jobs[name])
            job["status"] = {"active": 1, "ready": 1, "startTime": "2025-01-01T10:00:00Z"}
            return _Response(200, job)
        if method == "GET" and path == f"/api/v1/namespaces/{NAMESPACE}/pods":
            pods = [
                {"metadata": {"name": "old-pod", "creationTimestamp": "2025-01-01T09:00:00Z"}},
                {"metadata": {"name": "new-pod", "creationTimestamp": "2025-01-01T10:00:00Z"}},
            ]
            return _Response(200, {"kind": "PodList", "apiVersion": "v1", "items": pods})
        if method == "GET" and path.endswith("/log"):
            return _Response(200, self.log)
        return _Response(404, {"kind": "Status", "code": 404})


@pytest.fixture
def fake_server() -> FakeApiServer:
    return FakeApiServer()


@pytest.fixture
def runner(
    templates: dict[RunKind, dict[str, Any]], fake_server: FakeApiServer
) -> KubernetesRunner:
    configuration = client.Configuration(host="https://kubernetes.invalid")
    api = client.ApiClient(configuration)
    api.rest_client = fake_server  # type: ignore[assignment]  # the HTTP-less boundary
    return KubernetesRunner(templates, NAMESPACE, client.BatchV1Api(api), client.CoreV1Api(api))


def test_start_creates_the_built_job(runner: KubernetesRunner, fake_server: FakeApiServer) -> None:
    args = stage_args("train", "pp-3f2a9c0d1e4b", params={"c": 0.3})
    handle = runner.start(RUN_ID, "train", args)

    assert handle == f"prodcat-train-{RUN_ID}"
    method, path, _, body = fake_server.requests[-1]
    assert (method, path) == ("POST", f"/apis/batch/v1/namespaces/{NAMESPACE}/jobs")
    # What went over the wire is exactly the Job the runner built (and it is valid).
    assert body == runner.build(RUN_ID, "train", args)
    validate_strict(body)


def test_starting_the_same_run_again_is_not_an_error(runner: KubernetesRunner) -> None:
    first = runner.start(RUN_ID, "train", ["train"])
    assert runner.start(RUN_ID, "train", ["train"]) == first


def test_status_logs_and_cancel(runner: KubernetesRunner, fake_server: FakeApiServer) -> None:
    handle = runner.start(RUN_ID, "evaluate", ["evaluate"])
    ref = RunRef(RUN_ID, "evaluate", handle, T0)

    assert runner.status(ref).state == "running"
    assert runner.logs_tail(ref, 2) == ["line 2", "trained m-0123456789ab (linear)"]
    method, path, query, _ = fake_server.requests[-1]
    assert path == f"/api/v1/namespaces/{NAMESPACE}/pods/new-pod/log"  # the newest pod
    assert query["container"] == ["run"]
    assert query["tailLines"] == ["2"]
    _, _, pods_query, _ = fake_server.requests[-2]
    assert pods_query["labelSelector"] == [f"batch.kubernetes.io/job-name={handle}"]

    runner.cancel(ref)
    method, path, query, body = fake_server.requests[-1]
    assert (method, path) == ("DELETE", f"/apis/batch/v1/namespaces/{NAMESPACE}/jobs/{handle}")
    assert query.get("propagationPolicy") == ["Foreground"] or (
        body and body.get("propagationPolicy") == "Foreground"
    )
    # Gone: cancelling again is fine, and its state is "lost" (the API keeps "cancelled").
    runner.cancel(ref)
    observed = runner.status(ref)
    assert observed.state == "failed"
    assert (observed.reason or "").startswith("lost")


def test_a_refused_job_is_a_clear_error(
    runner: KubernetesRunner, fake_server: FakeApiServer
) -> None:
    fake_server._answer = lambda *a: _Response(403, {"kind": "Status", "code": 403})  # type: ignore[method-assign]
    with pytest.raises(UnavailableError, match="HTTP 403"):
        runner.start(RUN_ID, "train", ["train"])

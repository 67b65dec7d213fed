"""The data API's side of model health, served for real (uvicorn on 127.0.0.1) with the real
LocalRunner: appending labelled files to a dataset version, feedback labels checked against a real
inference log, the Alertmanager webhook starting one retraining per alert group (idempotent, one at
a time, never promoting under approval), the monitor report's gauges on /metrics, scraped by a
real Prometheus when the machine has one. Bad input is a 4xx with a message and changes nothing."""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pyarrow.parquet as pq
import pytest

from prodcat_core.feedback import read_feedback
from prodcat_core.inference_log import InferenceLogWriter, InferenceRecord, ModelIdentity
from prodcat_core.text import listing_text
from prodcat_data.api.app import create_app
from prodcat_data.config import DataSettings
from prodcat_data.runners.base import extract_outcome
from prodcat_data.synthetic import write_challenge_files

from .conftest import api_client
from .test_api import make_settings, store_listing, upload

BASE_X = (
    b",designation,description,productid,imageid\n"
    b"0,Chaise de jardin en teck,Pliante,11,21\n"
    b"1,Livre de poche,,12,22\n"
)
BASE_Y = b",prdtypecode\n0,2582\n1,10\n"
NEW_X = (
    b",designation,description,productid,imageid\n"
    b"0,Livre de poche,,12,22\n"
    b"1,Chaise de jardin en teck,Pliante,11,21\n"
    b"2,Console de jeu portable,,15,25\n"
)
NEW_Y = b",prdtypecode\n0,10\n1,1560\n2,60\n"


TOKEN = "alert-webhook-token-for-tests"
LOGGED_IDS = ("a" * 32, "b" * 32)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("health")
    # The inference log of a predictor that answered two listings an hour ago.
    log_listings(root, LOGGED_IDS, datetime.now(UTC) - timedelta(hours=1))
    return root


def log_listings(root: Path, listing_ids: tuple[str, ...], when: datetime) -> None:
    """The predictor's inference log (its real writer) answering these listings at `when`."""
    model = ModelIdentity("prodcat", "3", "champion", "m-0123456789ab")
    with InferenceLogWriter(str(root / "inference-log"), rotate_seconds=0.1) as writer:
        for listing_id in listing_ids:
            writer.submit(
                InferenceRecord(
                    ts=when,
                    request_id="r1",
                    listing_id=listing_id,
                    model=model,
                    text="Piscine tubulaire ronde",
                    truncated=False,
                    prdtypecode=2583,
                    confidence=0.9,
                    topk_codes=(2583,),
                    topk_probs=(0.9,),
                    latency_ms=3.0,
                )
            )


def health_settings(root: Path, **overrides: object) -> DataSettings:
    return make_settings(
        root,
        feedback_dir=root / "data" / "feedback",
        inference_log_uri=str(root / "inference-log"),
        monitoring_dir=root / "monitoring",
        retrain_on_alert=True,
        retrain_require_approval=True,
        alert_webhook_token=TOKEN,
        max_feedback_items=5,
        **overrides,
    )


@pytest.fixture(scope="module")
def api(root: Path) -> Iterator[httpx.Client]:
    with api_client(create_app(health_settings(root))) as client:
        yield client


def test_upload_on_top_of_a_dataset_makes_a_new_version(api: httpx.Client) -> None:
    base = upload(api, BASE_X, BASE_Y)
    assert base.status_code in (200, 201), base.text
    base_id = base.json()["dataset_id"]

    appended = upload(api, NEW_X, NEW_Y, params={"base": base_id})
    assert appended.status_code == 201, appended.text
    body = appended.json()
    assert body["dataset_id"] != base_id
    assert body["n_rows"] == 3
    assert body["appended"]["base_dataset_id"] == base_id
    assert (body["appended"]["duplicates_dropped"], body["appended"]["conflicts"]) == (1, 1)
    assert body["appended"]["conflict_examples"][0]["new_prdtypecode"] == 1560
    assert api.get(f"/datasets/{base_id}").json()["n_rows"] == 2  # the base is unchanged


@pytest.mark.parametrize(
    ("x", "params", "status", "message"),
    [
        (
            NEW_X.replace(b"imageid\n", b"imageid,price\n").replace(b"5\n", b"5,1\n"),
            {"base": "latest"},
            400,
            "column(s) price are not in the base dataset",
        ),
        (NEW_X, {"base": "ds-0123456789ab"}, 404, "ds-0123456789ab not found"),
        (NEW_X, {"base": "../x"}, 400, "not a dataset id"),
    ],
)
def test_an_append_that_does_not_fit_is_refused_and_changes_nothing(
    api: httpx.Client,
    root: Path,
    x: bytes,
    params: dict[str, str],
    status: int,
    message: str,
) -> None:
    assert upload(api, BASE_X, BASE_Y).status_code in (200, 201)
    before = store_listing(root)
    answer = upload(api, x, NEW_Y, params=params)
    assert answer.status_code == status, answer.text
    assert message in answer.json()["error"]
    assert store_listing(root) == before


# ------------------------------------------------------------------------------------------------
# Feedback labels.
# ------------------------------------------------------------------------------------------------


def test_feedback_by_listing_id_and_by_text_is_stored_whole(api: httpx.Client, root: Path) -> None:
    before = read_feedback(root / "data" / "feedback").num_rows
    labels = [
        {"listing_id": LOGGED_IDS[0], "prdtypecode": 2583},
        {"designation": "Chaise de jardin", "description": "<b>Teck</b>", "prdtypecode": 2582},
    ]
    answer = api.post("/feedback", json=labels)
    assert answer.status_code == 201, answer.text
    assert answer.json() == {"accepted": 2, "by_listing_id": 1, "by_text": 1}

    stored = read_feedback(root / "data" / "feedback").to_pylist()[before:]
    assert [(r["listing_id"], r["prdtypecode"], r["source"]) for r in stored] == [
        (LOGGED_IDS[0], 2583, "api"),
        (None, 2582, "api"),
    ]
    # The text is hashed as the predictor logs it: the text function, then sha256.
    text = listing_text("Chaise de jardin", "<b>Teck</b>")
    assert stored[1]["text_sha256"] == hashlib.sha256(text.encode()).hexdigest()
    files = sorted((root / "data" / "feedback").rglob("*.parquet"))
    assert all(pq.read_metadata(f).num_rows for f in files)  # whole files only, no temp left
    assert not [p for p in (root / "data" / "feedback").rglob(".*")]


def test_a_listing_logged_after_the_last_lookup_is_known(api: httpx.Client, root: Path) -> None:
    """The API keeps the ids of the log's files it read (they never change): a file written
    since is read at the next lookup."""
    assert api.post("/feedback", json=[{"listing_id": LOGGED_IDS[1], "prdtypecode": 10}]).is_success
    late = ("c" * 32,)
    unknown = api.post("/feedback", json=[{"listing_id": late[0], "prdtypecode": 10}])
    assert unknown.status_code == 404, unknown.text
    log_listings(root, late, datetime.now(UTC))
    known = api.post("/feedback", json=[{"listing_id": late[0], "prdtypecode": 10}])
    assert known.status_code == 201, known.text


BAD_FEEDBACK: dict[str, tuple[Any, int, str]] = {
    "not a list": ({"listing_id": "x", "prdtypecode": 10}, 422, "invalid request"),
    "not JSON": (b"[{", 422, "JSON decode error"),
    "empty list": ([], 400, "no labels given"),
    "no code": ([{"listing_id": LOGGED_IDS[0]}], 422, "prdtypecode"),
    "id and text": (
        [{"listing_id": LOGGED_IDS[0], "designation": "Livre", "prdtypecode": 10}],
        422,
        "listing_id or a designation",
    ),
    "unknown code": (
        [{"listing_id": LOGGED_IDS[0], "prdtypecode": 10}, {"listing_id": "c", "prdtypecode": 9}],
        400,
        "item 1: prdtypecode 9 is not a known product type",
    ),
    "unknown id": (
        [{"listing_id": LOGGED_IDS[1], "prdtypecode": 10}, {"listing_id": "z1", "prdtypecode": 10}],
        404,
        "1 listing id(s) not in the inference log of the last 30 days: z1",
    ),
    "empty text": ([{"designation": "  <br> ", "prdtypecode": 10}], 400, "item 0"),
    "too many": ([{"listing_id": LOGGED_IDS[0], "prdtypecode": 10}] * 6, 413, "limit of 5"),
}


@pytest.mark.parametrize("case", sorted(BAD_FEEDBACK))
def test_bad_feedback_is_refused_and_nothing_is_stored(
    api: httpx.Client, root: Path, case: str
) -> None:
    body, status, message = BAD_FEEDBACK[case]
    before = store_listing(root)
    if isinstance(body, bytes):
        answer = api.post("/feedback", content=body, headers={"content-type": "application/json"})
    else:
        answer = api.post("/feedback", json=body)
    assert answer.status_code == status, answer.text
    assert message in answer.json()["error"]
    assert store_listing(root) == before


# ------------------------------------------------------------------------------------------------
# The Alertmanager webhook.
# ------------------------------------------------------------------------------------------------


def alert_payload(group: str, starts_at: str, status: str = "firing") -> dict[str, Any]:
    """Alertmanager's webhook body, version 4, as its documentation shows it."""
    labels = {"alertname": group, "severity": "warning", "namespace": "prodcat"}
    return {
        "version": "4",
        "groupKey": f'{{}}/{{severity="warning"}}:{{alertname="{group}"}}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "prodcat-retrain",
        "groupLabels": {"alertname": group},
        "commonLabels": labels,
        "commonAnnotations": {"summary": "class mix drift"},
        "externalURL": "http://alertmanager.monitoring:9093",
        "alerts": [
            {
                "status": status,
                "labels": labels,
                "annotations": {"summary": "class mix drift"},
                "startsAt": starts_at,
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus.monitoring:9090/graph",
                "fingerprint": "c6b3a8a0e1f2d3c4",
            }
        ],
    }


def post_alert(api: httpx.Client, body: Any, token: str | None = TOKEN) -> httpx.Response:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return api.post("/alerts/alertmanager", json=body, headers=headers)


def runs_of(api: httpx.Client, kind: str) -> list[dict[str, Any]]:
    answer = api.get("/runs", params={"kind": kind})
    assert answer.status_code == 200, answer.text
    runs: list[dict[str, Any]] = answer.json()
    return runs


@pytest.fixture(scope="module")
def dataset(api: httpx.Client, root: Path) -> str:
    x, y = write_challenge_files(root / "raw", 600, 11)
    answer = upload(api, x.read_bytes(), y.read_bytes())
    assert answer.status_code in (200, 201), answer.text
    dataset_id: str = answer.json()["dataset_id"]
    return dataset_id


def test_a_firing_group_starts_one_retraining_that_waits_for_approval(
    api: httpx.Client, dataset: str
) -> None:
    first = post_alert(api, alert_payload("ProdcatModelDrift", "2026-01-05T10:00:00Z"))
    assert first.status_code == 201, first.text
    run = first.json()["run"]
    assert first.json()["started"] is True
    assert run["kind"] == "retrain"
    assert run["dataset_id"] == dataset
    assert run["promote"] is False  # DATA_RETRAIN_REQUIRE_APPROVAL: the candidate stays challenger
    try:
        # Alertmanager repeats the group (repeat_interval, a restart): the same run.
        again = post_alert(api, alert_payload("ProdcatModelDrift", "2026-01-05T10:00:00Z"))
        assert again.status_code == 200, again.text
        assert again.json()["started"] is False
        assert again.json()["run"]["id"] == run["id"]
        # Another group while this retraining is active: nothing new, one at a time.
        other = post_alert(api, alert_payload("ProdcatAccuracyDrop", "2026-01-05T10:05:00Z"))
        assert other.status_code == 200, other.text
        assert other.json()["started"] is False
        assert "one retraining runs at a time" in other.json()["reason"]
        # The same through POST /runs: a conflict.
        manual = api.post("/runs", json={"kind": "retrain"})
        assert manual.status_code == 409, manual.text
        resolved = post_alert(
            api, alert_payload("ProdcatModelDrift", "2026-01-05T10:00:00Z", status="resolved")
        )
        assert resolved.json() == {
            "started": False,
            "reason": "the alert group is resolved",
            "run": None,
        }
        assert [r["id"] for r in runs_of(api, "retrain")] == [run["id"]]
    finally:
        api.post(f"/runs/{run['id']}/cancel")
    # A retraining that ended does not block the next episode; its replay still finds it.
    assert (
        post_alert(api, alert_payload("ProdcatModelDrift", "2026-01-05T10:00:00Z")).json()["run"][
            "id"
        ]
        == run["id"]
    )


BAD_ALERTS: dict[str, tuple[Any, str | None, int, str]] = {
    "no token": (alert_payload("A", "2026-01-05T10:00:00Z"), None, 401, "bearer token"),
    "wrong token": (alert_payload("A", "2026-01-05T10:00:00Z"), "nope", 401, "bearer token"),
    "not version 4": (
        alert_payload("A", "2026-01-05T10:00:00Z") | {"version": "3"},
        TOKEN,
        422,
        "version",
    ),
    "no alerts": (
        alert_payload("A", "2026-01-05T10:00:00Z") | {"alerts": []},
        TOKEN,
        422,
        "alerts",
    ),
    "no group key": (
        {k: v for k, v in alert_payload("A", "2026-01-05T10:00:00Z").items() if k != "groupKey"},
        TOKEN,
        422,
        "groupKey",
    ),
    "bad time": (alert_payload("A", "yesterday"), TOKEN, 422, "startsAt"),
    "not an object": ([1, 2], TOKEN, 422, "invalid request"),
}


@pytest.mark.parametrize("case", sorted(BAD_ALERTS))
def test_a_malformed_or_unauthorised_alert_starts_nothing(
    api: httpx.Client, root: Path, case: str
) -> None:
    body, token, status, message = BAD_ALERTS[case]
    before = [r["id"] for r in runs_of(api, "retrain")]
    answer = post_alert(api, body, token)
    assert answer.status_code == status, answer.text
    assert message in answer.json()["error"]
    assert [r["id"] for r in runs_of(api, "retrain")] == before


# ------------------------------------------------------------------------------------------------
# The monitor report's gauges.
# ------------------------------------------------------------------------------------------------

REPORT: dict[str, Any] = {
    "monitor_id": "mon-0123456789ab",
    "created_at": "2026-01-05T10:00:00+00:00",
    "model": {"name": "prodcat", "version": "3", "alias": "champion", "model_id": "m-0123456789ab"},
    "window": {
        "start": "2026-01-05T09:00:00+00:00",
        "end": "2026-01-05T10:00:00+00:00",
        "records": 1200,
    },
    "status": "drift",
    "metrics": {"class_psi": 0.41, "estimated_accuracy": 0.83, "feedback_weighted_f1": None},
    "class_shares": {"10": {"live": 0.2, "reference": 0.05}},
    "per_class_recall": {},
    "checks": [
        {"name": "class_psi", "value": 0.41, "threshold": 0.2, "breached": True},
        {"name": "oov_rate", "value": 0.1, "threshold": 0.3, "breached": False},
    ],
    "thresholds": {"class_psi": 0.2},
}


@pytest.fixture(scope="module")
def reported(root: Path) -> Path:
    folder = root / "monitoring"
    folder.mkdir(exist_ok=True)
    (folder / "latest.json").write_text(json.dumps(REPORT), encoding="utf-8")
    return folder


def test_the_latest_report_is_served_as_gauges(api: httpx.Client, reported: Path) -> None:
    text = api.get("/metrics").text
    for line in (
        'prodcat_monitor_metric{metric="class_psi",model_version="3"} 0.41',
        'prodcat_monitor_metric{metric="estimated_accuracy",model_version="3"} 0.83',
        'prodcat_monitor_check_breached{check="class_psi",model_version="3"} 1.0',
        'prodcat_monitor_check_breached{check="oov_rate",model_version="3"} 0.0',
        'prodcat_monitor_check_threshold{check="class_psi",model_version="3"} 0.2',
        'prodcat_monitor_window_records{model_version="3"} 1200.0',
        'prodcat_monitor_class_share{model_version="3",prdtypecode="10",which="live"} 0.2',
        'prodcat_monitor_status{status="drift"} 1.0',
        'prodcat_monitor_status{status="ok"} 0.0',
        "prodcat_monitor_last_report_timestamp_seconds 1.7676072e+09",
    ):
        assert line in text, line
    assert "feedback_weighted_f1" not in text  # null: not computable, no sample


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_daemon(
    binary: str, folder: Path, config: dict[str, Any], *flags: str, port: int
) -> subprocess.Popen[bytes]:
    """Prometheus or Alertmanager on 127.0.0.1:`port` with `config` (JSON is YAML)."""
    path = folder / f"{Path(binary).name}.yml"
    path.write_text(json.dumps(config), encoding="utf-8")
    argv = [binary, f"--config.file={path}", f"--web.listen-address=127.0.0.1:{port}", *flags]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_a_real_prometheus_scrapes_the_monitor_gauges(
    api: httpx.Client, reported: Path, tmp_path: Path
) -> None:
    prometheus = shutil.which("prometheus")
    if prometheus is None:
        pytest.skip("prometheus is not on PATH (Debian: apt-get install prometheus)")
    target = str(api.base_url).removeprefix("http://").rstrip("/")
    config = {
        "global": {"scrape_interval": "1s"},
        "scrape_configs": [{"job_name": "prodcat-api", "static_configs": [{"targets": [target]}]}],
    }
    port = _free_port()
    process = start_daemon(
        prometheus, tmp_path, config, f"--storage.tsdb.path={tmp_path / 'tsdb'}", port=port
    )
    try:
        query = 'prodcat_monitor_check_breached{check="class_psi"}'
        found: list[Any] = []
        deadline = time.monotonic() + 60
        with httpx.Client(trust_env=False, timeout=5) as http:
            while not found and time.monotonic() < deadline:
                time.sleep(1)
                try:
                    answer = http.get(
                        f"http://127.0.0.1:{port}/api/v1/query", params={"query": query}
                    )
                except httpx.TransportError:
                    continue
                if answer.status_code == 200:
                    found = answer.json()["data"]["result"]
        assert found, "Prometheus never scraped the monitor gauges"
        [series] = found
        assert series["metric"]["model_version"] == "3"
        assert series["metric"]["job"] == "prodcat-api"
        assert series["value"][1] == "1"
    finally:
        process.terminate()
        process.wait(timeout=30)


def wait_for(api: httpx.Client, run_id: str, timeout_s: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        run: dict[str, Any] = api.get(f"/runs/{run_id}", params={"logs": 400}).json()
        if run["state"] not in ("pending", "running"):
            return run
        time.sleep(1)
    raise AssertionError(f"run {run_id} still running after {timeout_s} s")


SMALL = {"word_max_features": 5000, "char_max_features": 5000, "stack_folds": 0}


def test_a_retrain_run_prepares_trains_and_evaluates_then_waits_for_a_person(
    api: httpx.Client, dataset: str
) -> None:
    started = api.post("/runs", json={"kind": "retrain", "params": SMALL, "promote": True})
    assert started.status_code == 201, started.text
    run = wait_for(api, started.json()["id"])
    assert run["state"] == "succeeded", run["logs_tail"]
    outcome = run["outcome"]
    # The three steps ran in order in one run: the model trained is the one evaluated.
    assert outcome["model_id"].startswith("m-")
    assert outcome["registry_version"]
    assert outcome["gate"].startswith(("promoted", "not promoted", "passed, not promoted"))
    # Approval wins over the request: the gate decided, nothing moved.
    assert run["promote"] is False
    assert outcome["promoted"] is False


def answered_alerts(api: httpx.Client, status: str) -> float:
    """How many webhook calls the API answered with `status` (its own request counter)."""
    total = 0.0
    for line in api.get("/metrics").text.splitlines():
        if (
            line.startswith("prodcat_api_requests_total{")
            and 'route="/alerts/alertmanager"' in line
            and f'status="{status}"' in line
        ):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_a_real_alertmanager_starts_one_retraining_per_group(
    api: httpx.Client, dataset: str, tmp_path: Path
) -> None:
    """Alertmanager (Debian's prometheus-alertmanager) routes a firing alert to the webhook with
    the bearer token, then repeats it every few seconds: one retrain run, the repeats answered
    with it."""
    alertmanager = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if alertmanager is None:
        pytest.skip("Alertmanager is not on PATH (Debian: apt-get install prometheus-alertmanager)")
    for run in runs_of(api, "retrain"):  # one retraining at a time: none may be active here
        if run["state"] in ("pending", "running"):
            api.post(f"/runs/{run['id']}/cancel")
    before = {r["id"] for r in runs_of(api, "retrain")}
    replayed_before = answered_alerts(api, "200")
    webhook = f"{str(api.base_url).rstrip('/')}/alerts/alertmanager"
    config = {
        "route": {
            "receiver": "prodcat-retrain",
            "group_by": ["alertname"],
            "group_wait": "1s",
            "group_interval": "2s",
            "repeat_interval": "3s",
        },
        "receivers": [
            {
                "name": "prodcat-retrain",
                "webhook_configs": [
                    {
                        "url": webhook,
                        "send_resolved": False,
                        "http_config": {"authorization": {"type": "Bearer", "credentials": TOKEN}},
                    }
                ],
            }
        ],
    }
    port = _free_port()
    process = start_daemon(
        alertmanager,
        tmp_path,
        config,
        f"--storage.path={tmp_path / 'data'}",
        "--cluster.listen-address=",
        port=port,
    )
    started: list[dict[str, Any]] = []
    try:
        alert = [
            {
                "labels": {"alertname": "ProdcatModelDrift", "action": "retrain"},
                "annotations": {"summary": "the last 2 monitor reports found drift"},
                "startsAt": datetime.now(UTC).isoformat(),
            }
        ]
        deadline = time.monotonic() + 60
        with httpx.Client(trust_env=False, timeout=5) as http:
            while time.monotonic() < deadline:
                try:
                    sent = http.post(f"http://127.0.0.1:{port}/api/v2/alerts", json=alert)
                except httpx.TransportError:
                    time.sleep(0.5)
                    continue
                assert sent.status_code == 200, sent.text
                break
        while not started and time.monotonic() < deadline:
            time.sleep(0.5)
            started = [r for r in runs_of(api, "retrain") if r["id"] not in before]
        assert started, "Alertmanager's notification started no retraining"
        time.sleep(8)  # several repeat intervals: Alertmanager sends the group again
        assert answered_alerts(api, "200") > replayed_before, "Alertmanager did not repeat"
        after = [r for r in runs_of(api, "retrain") if r["id"] not in before]
        assert [r["id"] for r in after] == [started[0]["id"]]
    finally:
        process.terminate()
        process.wait(timeout=30)
        for run in started:
            api.post(f"/runs/{run['id']}/cancel")


def test_a_retrain_runs_outcome_reads_every_step() -> None:
    """The outcome of a retrain run comes from its three steps' output: the trained model, its
    registry version, the scores and the gate, also when the gate passed but approval kept it."""
    log = [
        "prepared pp-0123456789ab from ds-0123456789ab: train 480, val 60, test 60",
        "trained m-0123456789ab (linear) in 3.1s: validation weighted F1 0.9100, macro F1 0.9000",
        "registered as version 4 (models:/prodcat@challenger)",
        "model      m-0123456789ab (linear, registry version 4)",
        "test       weighted F1 0.9050  macro F1 0.8950  accuracy 0.9040  ECE 0.020  (60 rows)",
        "gate       passed, not promoted (promotion was off): weighted F1 0.9050 >= 0.5",
    ]
    outcome = extract_outcome("retrain", log)
    assert outcome["model_id"] == "m-0123456789ab"
    assert outcome["registry_version"] == "4"
    assert outcome["gate_passed"] is True
    assert outcome["promoted"] is False
    assert outcome["gate"].startswith("passed, not promoted")
    assert outcome["metrics"]["test_weighted_f1"] == 0.905


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"kind": "monitor"}, 404, "no version has the alias 'champion'"),
        ({"kind": "monitor", "model": "models:/other@champion"}, 400, "registered model is"),
        ({"kind": "monitor", "since": "forever"}, 422, "since"),
        ({"kind": "retrain", "dataset_id": "ds-0123456789ab"}, 404, "not found"),
        ({"kind": "retrain", "dataset_id": "../x"}, 422, "dataset_id"),
    ],
)
def test_a_run_that_cannot_work_is_refused_before_it_starts(
    api: httpx.Client, body: dict[str, Any], status: int, message: str
) -> None:
    before = [r["id"] for r in runs_of(api, body["kind"])]
    answer = api.post("/runs", json=body)
    assert answer.status_code == status, answer.text
    assert message in answer.json()["error"]
    assert [r["id"] for r in runs_of(api, body["kind"])] == before

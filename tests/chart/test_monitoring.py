"""Monitoring: ServiceMonitors select the chart's metric Services, rules and dashboards use only
the metric names declared in charts/prodcat/files/metrics.yaml (the one list a scrape test can
compare with a real /metrics), and `promtool check rules` accepts the rendered rules."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.chart.render import CHART_DIR
from tests.chart.scenarios import named, objects, of_kind

METRICS_FILE = CHART_DIR / "files" / "metrics.yaml"
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
# Series from other exporters that the rules and dashboards also read.
EXTERNAL_SERIES = {
    "up",
    "kube_job_status_failed",
    "kube_job_status_active",
    "kube_job_status_succeeded",
}


# A `prodcat monitor` report (the contract's latest.json) with every kind of value.
MONITOR_REPORT: dict[str, Any] = {
    "monitor_id": "mon-0123456789ab",
    "created_at": "2026-01-05T10:00:00+00:00",
    "model": {"name": "prodcat", "version": "3", "alias": "champion", "model_id": "m-0123456789ab"},
    "window": {"start": None, "end": None, "records": 1200},
    "status": "drift",
    "metrics": {"class_psi": 0.41},
    "class_shares": {"10": {"live": 0.2, "reference": 0.05}},
    "per_class_recall": {},
    "checks": [{"name": "class_psi", "value": 0.41, "threshold": 0.2, "breached": True}],
    "thresholds": {"class_psi": 0.2},
}


def declared_metrics() -> dict[str, dict[str, Any]]:
    """Metric name -> its declaration (type, labels, help[, buckets]), for every service."""
    doc = yaml.safe_load(METRICS_FILE.read_text(encoding="utf-8"))
    return {m["name"]: m for service in doc.values() for m in service["metrics"]}


def exported_series() -> set[str]:
    """The sample names a scrape shows: histograms add _bucket/_sum/_count."""
    out: set[str] = set()
    for name, m in declared_metrics().items():
        if m["type"] == "histogram":
            out.update(name + suffix for suffix in HISTOGRAM_SUFFIXES)
        else:
            out.add(name)
    return out


def prodcat_names(text: str) -> set[str]:
    return set(re.findall(r"\bprodcat_[a-z0-9_]+", text))


def test_metric_names_follow_the_conventions() -> None:
    metrics = declared_metrics()
    assert metrics, METRICS_FILE
    for name, m in metrics.items():
        assert re.fullmatch(r"prodcat_(predictor|api|monitor)_[a-z0-9_]+", name), name
        assert m["type"] in {"counter", "gauge", "histogram"}, name
        assert (m["type"] == "counter") == name.endswith("_total"), name
        assert m["help"], name
    for required in (
        "prodcat_predictor_requests_total",
        "prodcat_predictor_errors_total",
        "prodcat_predictor_request_duration_seconds",
        "prodcat_predictor_batch_size",
        "prodcat_predictor_predictions_total",
        "prodcat_predictor_confidence",
        "prodcat_predictor_input_chars",
        "prodcat_predictor_model_info",
        "prodcat_api_requests_total",
        "prodcat_api_request_duration_seconds",
        "prodcat_api_runs",
        "prodcat_api_dataset_rows",
    ):
        assert required in metrics, required
    assert "prdtypecode" in metrics["prodcat_predictor_predictions_total"]["labels"]


def test_rules_and_dashboards_use_only_declared_metrics() -> None:
    objs = objects("monitoring")
    (rule,) = of_kind(objs, "PrometheusRule")
    used = prodcat_names(json.dumps(rule["spec"]))
    dashboards = [
        cm for cm in of_kind(objs, "ConfigMap") if cm["metadata"]["labels"].get("grafana_dashboard")
    ]
    for cm in dashboards:
        used |= prodcat_names(json.dumps(cm["data"]))
    recorded = {r["record"] for g in rule["spec"]["groups"] for r in g["rules"] if "record" in r}
    unknown = {n for n in used if n not in exported_series() and not any(n in r for r in recorded)}
    assert unknown == set(), f"not in {METRICS_FILE.name}: {sorted(unknown)}"
    # Every declared metric is shown somewhere.
    shown = {n.removesuffix(s) for n in used for s in ("", *HISTOGRAM_SUFFIXES) if n.endswith(s)}
    assert set(declared_metrics()) <= shown, set(declared_metrics()) - shown


def test_low_confidence_threshold_is_a_bucket_bound() -> None:
    buckets = declared_metrics()["prodcat_predictor_confidence"]["buckets"]
    (rule,) = of_kind(objects("monitoring"), "PrometheusRule")
    expr = next(
        r["expr"]
        for g in rule["spec"]["groups"]
        for r in g["rules"]
        if r.get("alert") == "ProdcatPredictorLowConfidence"
    )
    (le,) = re.findall(r'le="([0-9.]+)"', expr)
    assert float(le) in buckets


def test_rules_cover_the_alerts() -> None:
    (rule,) = of_kind(objects("monitoring"), "PrometheusRule")
    alerts = {r["alert"] for g in rule["spec"]["groups"] for r in g["rules"] if "alert" in r}
    assert {
        "ProdcatApiHighErrorRatio",
        "ProdcatPredictorHighErrorRatio",
        "ProdcatPredictorSlow",
        "ProdcatPredictorUnavailable",
        "ProdcatRunFailed",
        "ProdcatPredictorLowConfidence",
        "ProdcatPredictorOverloaded",
    } <= alerts
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"


@pytest.mark.parametrize("scenario", ["monitoring", "all"])
def test_service_monitors_select_the_metric_services(scenario: str) -> None:
    objs = objects(scenario)
    monitors = of_kind(objs, "ServiceMonitor")
    assert {m["metadata"]["name"] for m in monitors} == {"prodcat-api", "prodcat-predictor"}
    services = of_kind(objs, "Service")
    for m in monitors:
        assert m["metadata"]["labels"]["release"] == "kube-prometheus-stack"
        selector = m["spec"]["selector"]["matchLabels"]
        matched = [s for s in services if selector.items() <= s["metadata"]["labels"].items()]
        assert len(matched) == 1, f"{m['metadata']['name']} selects {matched}"
        ports = {p["name"] for p in matched[0]["spec"]["ports"]}
        assert m["spec"]["endpoints"][0]["port"] in ports
        assert m["spec"]["endpoints"][0]["path"] == "/metrics"


def test_dashboards_are_grafana_configmaps() -> None:
    objs = objects("monitoring")
    files = sorted(p.name for p in (CHART_DIR / "files" / "dashboards").glob("*.json"))
    assert files == [
        "prodcat-api.json",
        "prodcat-model-health.json",
        "prodcat-predictor.json",
        "prodcat-runs.json",
    ]
    for name in files:
        cm = named(objs, "ConfigMap", f"prodcat-dashboard-{name.removesuffix('.json')}")
        assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
        dashboard = json.loads(cm["data"][name])
        assert dashboard["uid"]
        assert dashboard["panels"]
        for panel in dashboard["panels"]:
            assert panel["targets"], panel["title"]
            assert all(t["expr"] for t in panel["targets"]), panel["title"]


def test_predictor_dashboard_shows_classes_confidence_batch_size_latency() -> None:
    text = (CHART_DIR / "files" / "dashboards" / "prodcat-predictor.json").read_text()
    for needle in (
        "by (prdtypecode)",
        "confidence_bucket",
        "batch_size_bucket",
        "request_duration_seconds",
    ):
        assert needle in text, needle


def test_promtool_accepts_the_rendered_rules(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip(
            "promtool is not on PATH (Debian: apt-get install prometheus) to check the rules"
        )
    (rule,) = of_kind(objects("monitoring"), "PrometheusRule")
    rules_file = tmp_path / "prodcat.rules.yaml"
    rules_file.write_text(yaml.safe_dump(rule["spec"]), encoding="utf-8")
    result = subprocess.run(
        [promtool, "check", "rules", str(rules_file)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _registered(registry: Any, wrappers: list[Any]) -> dict[str, tuple[str, set[str]]]:
    """Exported name -> (type, labels) of what a prometheus-client registry holds."""
    labels_of = {w._name: set(w._labelnames) for w in wrappers if hasattr(w, "_labelnames")}
    out: dict[str, tuple[str, set[str]]] = {}
    for family in registry.collect():
        name = family.name + ("_total" if family.type == "counter" else "")
        sample_labels = {k for s in family.samples for k in s.labels if k != "le"}
        out[name] = (family.type, labels_of.get(family.name, sample_labels))
    return out


def test_declared_metrics_are_what_the_services_register(tmp_path: Path) -> None:
    """metrics.yaml against the services' own metric objects (a colleague's scrape test checks a
    live /metrics the same way)."""
    predict = pytest.importorskip("prodcat_predict.metrics", reason="prodcat-predict not installed")
    api = pytest.importorskip("prodcat_data.api.metrics", reason="prodcat-data not installed")
    prometheus_client = pytest.importorskip("prometheus_client")
    registry = prometheus_client.CollectorRegistry()
    predictor = predict.PredictorMetrics(registry)
    api_metrics = api.ApiMetrics(lambda: {"running": 1}, lambda: {10: 5})
    registered = _registered(registry, list(vars(predictor).values()))
    registered |= _registered(api_metrics.registry, list(vars(api_metrics).values()))
    # The monitor's gauges exist once a report does: one with every kind of sample.
    monitor = pytest.importorskip("prodcat_data.api.monitor_metrics")
    (tmp_path / monitor.LATEST_FILE).write_text(json.dumps(MONITOR_REPORT), encoding="utf-8")
    monitor_registry = prometheus_client.CollectorRegistry()
    monitor_registry.register(monitor.MonitorReportCollector(tmp_path))
    registered |= _registered(monitor_registry, [])
    declared = {n: (m["type"], set(m["labels"])) for n, m in declared_metrics().items()}
    buckets = declared_metrics()["prodcat_predictor_confidence"]["buckets"]
    assert tuple(buckets) == tuple(predict.CONFIDENCE_BUCKETS)
    missing = {n: d for n, d in declared.items() if registered.get(n) != d}
    assert missing == {}, {n: (d, registered.get(n)) for n, d in missing.items()}

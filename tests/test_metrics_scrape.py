"""The metric names the chart's alerts and dashboards read are in a REAL scrape: the data API and
the predictor run as the chart renders them (tests/processes.py), take a few real requests (a
dataset list, predictions over V1, V2 and the product route, bad requests), and their /metrics,
parsed with prometheus-client, hold every `prodcat_*` name of charts/prodcat/files/
prometheus-rules.yaml and files/dashboards/*.json, with the labels the expressions select and
group by. And `promtool test rules` drives the rendered alerts with synthetic series."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.chart.render import CHART_DIR, RELEASE
from tests.chart.scenarios import DEFAULTS, objects, of_kind
from tests.processes import Platform, classify, predictions

pytest_plugins = ["tests.processes"]

RULES_TEST = Path(__file__).parent / "chart" / "fixtures" / "prometheus-rules-test.yaml"
# The monitor's gauges are the data API's: it serves the latest report's values on its /metrics.
OWNERS = {"prodcat_api_": "api", "prodcat_predictor_": "predictor", "prodcat_monitor_": "api"}
# Labels Prometheus adds to every scraped series (the target's): not the services' to export.
TARGET_LABELS = frozenset(
    {"namespace", "service", "job", "instance", "pod", "container", "endpoint"}
)
# Series that exist only after an event this test must not cause on purpose. Their family must
# still be declared (HELP/TYPE) with the right type. (None today: the predictor creates its refusal
# and error series at 0 when it starts.)
EVENT_ONLY: dict[str, str] = {}
# Label values only a server error (5xx) produces (the API's status label); the 4xx the test
# causes shows the label.
ERROR_ONLY_VALUES = {("status", "5..")}
NAME = re.compile(r"\bprodcat_[a-z0-9_]+")
SELECTOR = re.compile(r"\b(prodcat_[a-z0-9_]+)\{([^}]*)\}")
MATCHER = re.compile(r'(\w+)\s*(=~|!~|!=|=)\s*"([^"]*)"')
GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
SUFFIXES = (
    ("_bucket", "histogram"),
    ("_sum", "histogram"),
    ("_count", "histogram"),
    ("_total", "counter"),
)


def expressions() -> dict[str, list[str]]:
    """Where -> its PromQL: the alerts and records of the rendered PrometheusRule (scenario
    monitoring) and the targets of every dashboard file."""
    (rule,) = of_kind(objects("monitoring"), "PrometheusRule")
    out = {
        f"rule {r.get('alert') or r.get('record')}": [r["expr"]]
        for group in rule["spec"]["groups"]
        for r in group["rules"]
    }
    for path in sorted((CHART_DIR / "files" / "dashboards").glob("*.json")):
        dashboard = json.loads(path.read_text(encoding="utf-8"))
        for panel in dashboard["panels"]:
            out[f"{path.name} panel {panel['title']!r}"] = [t["expr"] for t in panel["targets"]]
    return out


def owner(name: str) -> str:
    return next(service for prefix, service in OWNERS.items() if name.startswith(prefix))


@dataclass
class Scrape:
    """One /metrics answer: family types by family name, and every sample by sample name."""

    types: dict[str, str] = field(default_factory=dict)  # family -> counter, histogram, …
    samples: dict[str, list[tuple[dict[str, str], float]]] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> Scrape:
        scrape = cls()
        for family in text_string_to_metric_families(text):
            scrape.types[family.name] = family.type
            for sample in family.samples:
                scrape.samples.setdefault(sample.name, []).append(
                    (dict(sample.labels), float(sample.value))
                )
        return scrape

    def family(self, name: str) -> tuple[str, str] | None:
        """(family, type) of a sample name: a histogram exports _bucket, _sum and _count, a
        counter _total, a gauge its own name."""
        for suffix, kind in SUFFIXES:
            base = name.removesuffix(suffix)
            if base != name and self.types.get(base) == kind:
                return base, kind
        if self.types.get(name) in {"gauge", "untyped"}:
            return name, self.types[name]
        return None

    def label_names(self, name: str) -> set[str]:
        return {k for labels, _ in self.samples.get(name, []) for k in labels}

    def label_values(self, name: str, label: str) -> set[str]:
        return {labels[label] for labels, _ in self.samples.get(name, []) if label in labels}

    def value(self, name: str, **labels: str) -> float:
        return sum(v for found, v in self.samples.get(name, []) if labels.items() <= found.items())


def write_monitor_report(folder: Path) -> None:
    """A `prodcat monitor` report where the API reads it (the monitor Job writes the same file:
    tests/test_chart_processes.py), with every metric and every check the rules select."""
    from prodcat_core.monitor_report import (
        METRIC_NAMES,
        Check,
        ClassShare,
        ModelRef,
        MonitorReport,
        Window,
        write_report,
    )

    checks = ("class_psi", "estimated_accuracy_drop", "feedback_f1_drop", "oov_rise")
    report = MonitorReport(
        model=ModelRef(name="prodcat", version="1", alias="champion"),
        window=Window(start=None, end=None, records=1000),
        status="drift",
        metrics=dict.fromkeys(METRIC_NAMES, 0.1),
        class_shares={"10": ClassShare(live=0.2, reference=0.1)},
        checks=[Check(name=c, value=0.3, threshold=0.2, breached=True) for c in checks],
    )
    write_report(folder, report)


@pytest.fixture(scope="module")
def scrapes(chart_platform: Platform) -> Iterator[dict[str, Scrape]]:
    """The API and the predictor of the defaults render, a few real requests each, one scrape
    each (then both stop)."""
    objs = objects(DEFAULTS)
    write_monitor_report(chart_platform.sandbox.host_path("/artifacts/monitoring", "-"))
    with (
        chart_platform.serve(
            objs, f"InferenceService/{RELEASE}", "kserve-container", "scrape-isvc"
        ) as predictor,
        chart_platform.serve(objs, f"Deployment/{RELEASE}-api", "api", "scrape-api") as api,
        httpx.Client(timeout=30, trust_env=False) as http,
    ):
        assert http.get(f"{api.url}/datasets").status_code == 200
        assert http.get(f"{api.url}/datasets/ds-000000000000").status_code == 404
        assert http.get(f"{api.url}/runs").status_code == 200
        bad_run = http.post(f"{api.url}/runs", json={"kind": "nonsense"})
        assert 400 <= bad_run.status_code < 500, bad_run.text

        predictions(predictor.url)
        v2 = {
            "inputs": [
                {
                    "name": "text",
                    "datatype": "BYTES",
                    "shape": [2],
                    "data": ["Piscine hors sol", "Roman policier"],
                }
            ]
        }
        assert http.post(f"{predictor.url}/v2/models/prodcat/infer", json=v2).status_code == 200
        long_listing = {"designation": "Lot de livres " * 600, "description": "Roman"}
        assert (
            classify(predictor.url, {"designation": "Figurine manga"}, long_listing).status_code
            == 200
        )
        assert classify(predictor.url, {"designation": ""}).status_code in {400, 422}
        assert http.get(f"{predictor.url}/v2/models/prodcat").status_code == 200

        yield {
            "api": Scrape.parse(http.get(f"{api.url}/metrics").text),
            "predictor": Scrape.parse(http.get(f"{predictor.url}/metrics").text),
        }


@pytest.mark.slow
def test_every_rule_and_dashboard_metric_is_in_a_real_scrape(scrapes: dict[str, Scrape]) -> None:
    used = {name for exprs in expressions().values() for e in exprs for name in NAME.findall(e)}
    assert used, "no prodcat_* name in the rules and dashboards"
    assert {owner(n) for n in used} == {"api", "predictor"}
    assert any(n.startswith("prodcat_monitor_") for n in used), "no monitor gauge is read"
    missing = {}
    for name in sorted(used):
        scrape = scrapes[owner(name)]
        family = scrape.family(name)
        if family is None:
            missing[name] = f"no such family in the {owner(name)}'s /metrics"
        elif name not in scrape.samples and name not in EVENT_ONLY:
            missing[name] = f"{family[1]} {family[0]} is declared, but has no sample {name}"
    assert missing == {}, missing
    for name, event in EVENT_ONLY.items():
        assert name in used, f"{name} is no longer read: drop it from EVENT_ONLY"
        assert scrapes[owner(name)].family(name), f"{name} ({event}) is not even declared"


def label_problems(expr: str, scrapes: dict[str, Scrape]) -> list[str]:
    """What in `expr` selects or groups by a label its prodcat series do not carry, or selects a
    value (a route name, a state, a bucket bound) the service does not export."""
    problems: list[str] = []
    for name, matchers in SELECTOR.findall(expr):
        if name in EVENT_ONLY:
            continue
        scrape = scrapes[owner(name)]
        for label, op, value in MATCHER.findall(matchers):
            if label in TARGET_LABELS:
                continue
            if label not in scrape.label_names(name):
                problems.append(f"{name} has no label {label}")
            elif (label, value) not in ERROR_ONLY_VALUES and op in {"=", "=~"}:
                # On this series, or (a value not caused here, like a 4xx on v2_infer) on another
                # series of the same service under the same label: the label's vocabulary.
                seen = scrape.label_values(name, label) or set()
                seen |= {v for n in scrape.samples for v in scrape.label_values(n, label)}
                absent = [v for v in (value.split("|") if op == "=~" else [value]) if v not in seen]
                if absent:
                    problems.append(f"{name}{{{label}{op}{value!r}}}: none of {absent} in {seen}")
    names = [n for n in NAME.findall(expr) if n not in EVENT_ONLY]
    for grouping in GROUPING.findall(expr) if names else []:
        for label in {x.strip() for x in grouping.split(",")} - TARGET_LABELS:
            if not any(label in scrapes[owner(n)].label_names(n) for n in names):
                problems.append(f"by ({label}): no series of {names} has it")
    return problems


@pytest.mark.slow
def test_selected_and_grouped_labels_are_in_the_scrape(scrapes: dict[str, Scrape]) -> None:
    """Each label an expression selects on or groups by is on the series it reads; exact values
    (route names, run states, histogram bounds) are values the services really export."""
    problems = {
        where: found
        for where, exprs in expressions().items()
        if (found := [p for expr in exprs for p in label_problems(expr, scrapes)])
    }
    assert problems == {}


@pytest.mark.slow
def test_the_scrape_counts_what_was_sent(scrapes: dict[str, Scrape]) -> None:
    """The requests above are in the counters, under bounded labels (route names and templates)."""
    predictor = scrapes["predictor"]
    requests = "prodcat_predictor_requests_total"
    for route in ("v1_predict", "v2_infer", "classify", "metadata"):
        assert predictor.value(requests, route=route) >= 1, route
    assert predictor.value("prodcat_predictor_errors_total", route="classify", status_class="4xx")
    assert predictor.value("prodcat_predictor_listings_total") >= 5
    assert predictor.value("prodcat_predictor_truncated_listings_total") >= 1
    assert predictor.value("prodcat_predictor_confidence_count") >= 5
    assert predictor.label_values("prodcat_predictor_model_info", "alias") == {"champion"}
    api = scrapes["api"]
    assert api.value("prodcat_api_requests_total", route="/datasets", status="200") >= 1
    assert api.value("prodcat_api_requests_total", route="/datasets/{dataset_id}", status="404")
    assert api.label_values("prodcat_api_runs", "state") >= {"pending", "running", "failed"}
    assert api.value("prodcat_api_dataset_rows") > 0, "no rows per class of the imported dataset"


def test_promtool_rules_unit_tests(tmp_path: Path) -> None:
    """The rendered alerts fire on synthetic series: the API's and the predictor's 5xx ratios,
    the predictor down (and never scraped), p95 latency; healthy series stay quiet."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip(
            "promtool is not on PATH (Debian: apt-get install prometheus) to unit-test the rules"
        )
    (rule,) = of_kind(objects("monitoring"), "PrometheusRule")
    (tmp_path / "prodcat.rules.yaml").write_text(yaml.safe_dump(rule["spec"]), encoding="utf-8")
    shutil.copy(RULES_TEST, tmp_path / RULES_TEST.name)
    done = subprocess.run(
        [promtool, "test", "rules", RULES_TEST.name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    tested = set(re.findall(r"alertname: (\w+)", RULES_TEST.read_text(encoding="utf-8")))
    assert {
        "ProdcatApiHighErrorRatio",
        "ProdcatPredictorHighErrorRatio",
        "ProdcatPredictorUnavailable",
    } <= tested

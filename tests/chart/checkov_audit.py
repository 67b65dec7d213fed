"""checkov over every rendered scenario: each failed check is fixed in the chart or justified here.

The chart's defaults and each charts/prodcat/ci/*-values.yaml are rendered (the run Job templates
of the ConfigMap as Jobs of their own, since checkov cannot see inside a ConfigMap) into one folder
per scenario, and checkov's Kubernetes checks run over them. A failed check listed in JUSTIFIED is
accepted with its reason; any other fails the audit.

    .venv/bin/python -m tests.chart.checkov_audit [--checkov PATH]

checkov is not a project dependency (its own pins clash with the workspace's): install it in a
virtualenv of its own, `python -m venv /tmp/checkov && /tmp/checkov/bin/pip install
checkov==3.3.30`, and pass `--checkov /tmp/checkov/bin/checkov` (default: `checkov` on PATH)."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml

from tests.chart.scenarios import job_templates, objects, scenario_names

CHECKOV_VERSION = "3.3.30"
# No update check, no platform mapping: offline, checkov otherwise waits on each for minutes.
OFFLINE = {"CKV_SKIP_PACKAGE_UPDATE_CHECK": "true", "BC_SKIP_MAPPING": "TRUE"}

# Failed checks the chart keeps on purpose: check id -> why, in one line.
JUSTIFIED: dict[str, str] = {
    "CKV_K8S_15": "pull policy IfNotPresent: tags are immutable releases (images.*.digest pins a "
    "digest), and Always breaks kind, whose images are loaded, not pulled",
    "CKV_K8S_43": "a digest is supported (images.*.digest) but not the default: a release built "
    "by skaffold or CI knows its tag at install; the tag defaults to appVersion, never latest",
    "CKV_K8S_38": "the data API mounts its service account token on purpose: its runner creates "
    "run Jobs through the Kubernetes API (Role: create/get/delete jobs, list pods, get logs); "
    "every other pod has automountServiceAccountToken false",
    "CKV_K8S_35": "the run database URL and the S3 keys reach the processes as secretKeyRef env "
    "variables, read by their settings classes like every setting; no secret is in the values",
    "CKV_K8S_21": "objects go to the release namespace (helm --namespace), the Helm convention; "
    "no template names a namespace, so checkov sees none and assumes default",
}


@dataclass(frozen=True)
class Failure:
    scenario: str
    check: str
    name: str
    resource: str

    def line(self) -> str:
        return f"{self.scenario}: {self.check} {self.name} ({self.resource})"


def write_scenario(name: str, folder: Path) -> None:
    """The scenario's objects, and its run Job templates as Jobs, one YAML file each."""
    folder.mkdir(parents=True)
    docs = list(objects(name))
    for stage, job in job_templates(docs).items():
        job = json.loads(json.dumps(job))
        job["metadata"]["name"] = f"run-{stage}"
        docs.append(job)
    for i, doc in enumerate(docs):
        (folder / f"{i:03d}-{doc['kind'].lower()}.yaml").write_text(
            yaml.safe_dump(doc, sort_keys=False), encoding="utf-8"
        )


def run_checkov(checkov: str, folder: Path) -> list[dict[str, str]]:
    """checkov's failed checks over a folder of manifests."""
    done = subprocess.run(
        [checkov, "--directory", str(folder), "--framework", "kubernetes", "--output", "json",
         "--quiet", "--compact", "--skip-download"],
        capture_output=True, text=True, timeout=600, check=False,
        env=os.environ | OFFLINE,
    )  # fmt: skip
    if done.returncode not in (0, 1):  # 1: some check failed
        raise RuntimeError(f"checkov exited {done.returncode}: {done.stderr.strip()[-2000:]}")
    report = json.loads(done.stdout or "{}")
    reports = report if isinstance(report, list) else [report]
    failed: list[dict[str, str]] = []
    for r in reports:
        failed.extend(r.get("results", {}).get("failed_checks", []))
    return failed


def audit(checkov: str, scenarios: Iterable[str]) -> tuple[list[Failure], list[Failure]]:
    """(unjustified, justified) failures over the scenarios: one checkov run over a folder per
    scenario (checkov's start-up is most of its time)."""
    unjustified: list[Failure] = []
    justified: list[Failure] = []
    with tempfile.TemporaryDirectory(prefix="prodcat-checkov-") as tmp:
        for scenario in scenarios:
            write_scenario(scenario, Path(tmp) / scenario)
        for check in run_checkov(checkov, Path(tmp)):
            scenario = Path(check["file_path"]).parts[1]  # "/<scenario>/<nnn>-<kind>.yaml"
            failure = Failure(scenario, check["check_id"], check["check_name"], check["resource"])
            (justified if failure.check in JUSTIFIED else unjustified).append(failure)
    return unjustified, justified


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--checkov", default="checkov", help="the checkov executable")
    args = parser.parse_args(argv)
    checkov = shutil.which(args.checkov)
    if checkov is None:
        print(f"error: {args.checkov}: not found (pip install checkov=={CHECKOV_VERSION})")
        return 2
    unjustified, justified = audit(checkov, scenario_names())
    for check in sorted({f.check for f in justified}):
        count = sum(f.check == check for f in justified)
        print(f"justified {check} ({count} objects): {JUSTIFIED[check]}")
    for failure in unjustified:
        print(f"FAILED {failure.line()}")
    print(f"{len(unjustified)} unjustified, {len(justified)} justified failed checks")
    return 1 if unjustified else 0


if __name__ == "__main__":
    sys.exit(main())

"""Helpers shared by the benchmark scripts: where the repo and ../shared are, and the table."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

import psutil

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
REAL_SAMPLE = SHARED / "data" / "rakuten-sample"
RESULTS = REPO / "benchmarks" / "results"


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "cpu": platform.processor() or platform.machine(),
        "cores": psutil.cpu_count(logical=True),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
    }


def print_table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    widths = {c: max(len(c), *(len(_fmt(r.get(c))) for r in rows)) for c in columns}
    print("  ".join(c.ljust(widths[c]) for c in columns))
    print("  ".join("-" * widths[c] for c in columns))
    for r in rows:
        print("  ".join(_fmt(r.get(c)).ljust(widths[c]) for c in columns))


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return "" if value is None else str(value)


def portable(value: Any) -> Any:
    """`value` with every absolute path (a string, or a Path) made relative to the repository
    (`../shared/…` for the shared inputs): committed results must not name the machine they ran
    on."""
    if isinstance(value, dict):
        return {key: portable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [portable(item) for item in value]
    if isinstance(value, Path) or (isinstance(value, str) and value.startswith("/")):
        path = Path(value)
        return os.path.relpath(path, REPO) if path.is_absolute() else str(path)
    return value


def write_json(name: str, payload: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    document = portable({"machine": machine(), **payload})
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return path


def work_env(work: Path, bin_dir: Path) -> dict[str, str]:
    """This environment without prodcat/MLflow settings, every store under `work`, and the
    venv's `prodcat` first on PATH: a benchmark's stages touch nothing outside its folder."""
    prefixes = ("PREDICT_", "DATA_", "TRAIN_", "EVALUATE_", "MONITOR_", "MLFLOW_", "PROMETHEUS_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env.update(
        DATA_DATASETS_DIR=str(work / "datasets"),
        DATA_PREPARED_DIR=str(work / "prepared"),
        TRAIN_PREPARED_DIR=str(work / "prepared"),
        TRAIN_MODELS_DIR=str(work / "models"),
        TRAIN_ARTIFACTS_DIR=str(work / "mlartifacts"),
        MLFLOW_TRACKING_URI=f"sqlite:///{work / 'mlruns.db'}",
        PRODCAT_LOG_LEVEL="WARNING",
        PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    return env

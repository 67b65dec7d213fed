"""Thread counts that follow the container's CPU limit, set when a server starts (never at import).

The CPUs the cgroup allows (`prodcat_core.cpus`) are divided among the worker processes and
applied to OpenMP/BLAS: environment for the processes started afterwards, threadpoolctl for this
one."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from threadpoolctl import threadpool_limits

from prodcat_core.cpus import CGROUP_ROOT, InferencePlan, artifact_plan, available_cpus
from prodcat_predict.config import PredictSettings

logger = logging.getLogger(__name__)

THREAD_ENV_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "RAYON_NUM_THREADS",  # Hugging Face tokenizers
)


def cpus_per_worker(workers: int, root: Path = CGROUP_ROOT) -> int:
    return max(1, available_cpus(root) // max(workers, 1))


def settings_plan(artifact: Path, cpus: int, settings: PredictSettings) -> InferencePlan:
    """The plan for an artifact: PREDICT_THREADS / PREDICT_INFERENCE_CONCURRENCY where set, the
    rest chosen for the model's family."""
    return artifact_plan(
        artifact, cpus, threads=settings.threads, calls=settings.inference_concurrency
    )


def apply_thread_limits(threads: int) -> None:
    """Sizes the native thread pools: env variables (read by libraries loaded later and by worker
    processes started later) and threadpoolctl (the pools already loaded in this process)."""
    for var in THREAD_ENV_VARS:
        os.environ[var] = str(threads)
    threadpool_limits(limits=threads)
    logger.info("CPUs per worker: %d", threads)

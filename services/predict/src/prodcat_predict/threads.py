"""Thread counts that follow the container's CPU limit, set when a server starts (never at import).

The CPUs the cgroup allows (`prodcat_core.cpus`) are divided among the worker processes and
applied to OpenMP/BLAS: environment for the processes started afterwards, threadpoolctl for this
one."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from threadpoolctl import threadpool_limits

from prodcat_core.cpus import CGROUP_ROOT, available_cpus

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


def apply_thread_limits(threads: int) -> None:
    """Sizes the native thread pools: env variables (read by libraries loaded later and by worker
    processes started later) and threadpoolctl (the pools already loaded in this process)."""
    for var in THREAD_ENV_VARS:
        os.environ[var] = str(threads)
    threadpool_limits(limits=threads)
    logger.info("CPUs per worker: %d", threads)

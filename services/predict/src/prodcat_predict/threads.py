"""Thread counts that follow the container's CPU limit, set when a server starts (never at import).

A pod limited to 2 CPUs on a 64-core node still sees 64 cores in `os.cpu_count()`; native thread
pools sized from that fight over 2 CPUs. The limit is read from cgroup v2 `cpu.max` (or v1's
quota/period) and the CPU affinity mask, divided among the worker processes, and applied to
OpenMP/BLAS (environment for the processes started afterwards, threadpoolctl for this one)."""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

from threadpoolctl import threadpool_limits

logger = logging.getLogger(__name__)

CGROUP_ROOT = Path("/sys/fs/cgroup")
THREAD_ENV_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "RAYON_NUM_THREADS",  # Hugging Face tokenizers
)


def cgroup_cpu_limit(root: Path = CGROUP_ROOT) -> float | None:
    """CPUs allowed by the cgroup (`cpu.max` "quota period", or v1 cfs files); None if unlimited."""
    try:
        fields = (root / "cpu.max").read_text(encoding="ascii").split()
        if len(fields) == 2 and fields[0] != "max":
            return max(int(fields[0]) / int(fields[1]), 0.0) or None
        if fields:
            return None
    except (OSError, ValueError):
        pass
    try:
        quota = int((root / "cpu" / "cpu.cfs_quota_us").read_text(encoding="ascii"))
        period = int((root / "cpu" / "cpu.cfs_period_us").read_text(encoding="ascii"))
    except (OSError, ValueError):
        return None
    return quota / period if quota > 0 and period > 0 else None


def available_cpus(root: Path = CGROUP_ROOT) -> int:
    """Whole CPUs this process may use: the affinity mask, capped by the cgroup limit."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    limit = cgroup_cpu_limit(root)
    if limit is not None:
        cpus = min(cpus, max(1, math.ceil(limit)))
    return max(cpus, 1)


def threads_per_worker(configured: int | None, workers: int, root: Path = CGROUP_ROOT) -> int:
    if configured is not None:
        return configured
    return max(1, available_cpus(root) // max(workers, 1))


def apply_thread_limits(threads: int) -> None:
    """Sizes the native thread pools: env variables (read by libraries loaded later and by worker
    processes started later) and threadpoolctl (the pools already loaded in this process)."""
    for var in THREAD_ENV_VARS:
        os.environ[var] = str(threads)
    threadpool_limits(limits=threads)
    logger.info("inference threads per worker: %d", threads)

"""How many CPUs a process may use, and how a model spends them (its inference plan).

A pod limited to 2 CPUs on a 64-core node still sees 64 cores in `os.cpu_count()`; native thread
pools sized from that fight over 2 CPUs. The CPUs are, first, what the entrypoint declares (the
chart passes the pod's CPU limit, or its request when it has no limit, through a
`resourceFieldRef`: a pod with only a request has no cgroup limit to read), then the cgroup v2
`cpu.max` (or v1's quota/period), capped by the CPU affinity mask. The predictor, the evaluate
stage and bulk scoring all plan their model calls from it, so a model runs the same way in each."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from prodcat_core.artifact import read_artifact

CGROUP_ROOT = Path("/sys/fs/cgroup")


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


@dataclass
class _Declared:
    cpus: int | None = None


# Set once per process by the entrypoint (like logging), from its settings; read by every plan.
_DECLARED = _Declared()


def declare_cpus(cpus: int | None) -> None:
    """The CPUs this process was given (the pod's CPU limit or request); None: not declared."""
    _DECLARED.cpus = cpus


def declared_cpus() -> int | None:
    return _DECLARED.cpus


def available_cpus(root: Path = CGROUP_ROOT, declared: int | None = None) -> int:
    """Whole CPUs this process may use: the declared CPUs (argument, else `declare_cpus`), else
    the cgroup limit, capped by the affinity mask."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    declared = declared or _DECLARED.cpus
    limit = float(declared) if declared else cgroup_cpu_limit(root)
    if limit is not None:
        cpus = min(cpus, max(1, math.ceil(limit)))
    return max(cpus, 1)


# A small transformer uses threads poorly on short inputs: on 16 cores, 8 calls of batch 1 on 2
# threads each scored 1,847 listings/s, one call of batch 8 on 16 threads 340; on 2 cores, 2 calls
# of batch 4 on 1 thread 435/s, one of batch 8 on 2 threads 299
# (benchmarks/results/threads-transformer{-16cpu,}.json).
TRANSFORMER_THREADS_PER_CALL = 1


@dataclass(frozen=True)
class InferencePlan:
    """How a process spends its CPUs: `calls` model calls at once, each on `threads` threads."""

    calls: int
    threads: int


def inference_plan(
    family: str, cpus: int, *, threads: int | None = None, calls: int | None = None
) -> InferencePlan:
    """The given numbers, the unset ones chosen for the model family. A transformer gets one
    call per few threads. A linear model spends its time in Python (TF-IDF), under the GIL, so
    parallel calls would only queue for it: one call at a time, batched."""
    if family != "transformer":
        return InferencePlan(calls or 1, threads or cpus)
    if calls is None:
        calls = max(1, cpus // (threads or TRANSFORMER_THREADS_PER_CALL))
    return InferencePlan(calls, threads or max(1, cpus // calls))


def artifact_plan(
    artifact: Path, cpus: int, *, threads: int | None = None, calls: int | None = None
) -> InferencePlan:
    """The plan for the model in an artifact folder, for the family its metadata names."""
    family = read_artifact(artifact, verify=False)[0].family
    return inference_plan(family, cpus, threads=threads, calls=calls)

"""CPU limits from the cgroup and the inference plan built on them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from prodcat_core.cpus import (
    InferencePlan,
    available_cpus,
    cgroup_cpu_limit,
    declare_cpus,
    declared_cpus,
    inference_plan,
)


@pytest.mark.parametrize(
    ("cpu_max", "expected"), [("200000 100000", 2.0), ("150000 100000", 1.5), ("max 100000", None)]
)
def test_cgroup_v2_cpu_limit(tmp_path: Path, cpu_max: str, expected: float | None) -> None:
    (tmp_path / "cpu.max").write_text(cpu_max + "\n")
    assert cgroup_cpu_limit(tmp_path) == expected


def test_cgroup_v1_quota_and_the_v2_file_first(tmp_path: Path) -> None:
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("50000\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert cgroup_cpu_limit(tmp_path) == 0.5
    assert available_cpus(tmp_path) == 1
    assert cgroup_cpu_limit(tmp_path / "absent") is None
    (tmp_path / "cpu.max").write_text("800000 100000\n")
    assert available_cpus(tmp_path) == min(len(os.sched_getaffinity(0)), 8)


def test_declared_cpus_win_over_the_cgroup_and_stay_within_the_affinity(tmp_path: Path) -> None:
    """A pod with a CPU request and no limit has no cgroup limit: the request, declared by the
    entrypoint, is what the plan uses; a declared count is never more than the affinity mask."""
    (tmp_path / "cpu.max").write_text("max 100000\n")
    cores = len(os.sched_getaffinity(0))
    assert available_cpus(tmp_path) == cores
    assert available_cpus(tmp_path, declared=1) == 1
    assert available_cpus(tmp_path, declared=cores + 64) == cores
    (tmp_path / "cpu.max").write_text("50000 100000\n")
    assert available_cpus(tmp_path, declared=1) == 1
    try:
        declare_cpus(1)
        assert declared_cpus() == 1
        assert available_cpus(tmp_path / "absent") == 1
    finally:
        declare_cpus(None)
    assert available_cpus(tmp_path / "absent") == cores


@pytest.mark.parametrize(
    ("family", "cpus", "threads", "calls", "expected"),
    [
        # A transformer: one call per thread by default, the CPUs split among set calls.
        ("transformer", 16, None, None, InferencePlan(calls=16, threads=1)),
        ("transformer", 16, 2, None, InferencePlan(calls=8, threads=2)),
        ("transformer", 16, None, 4, InferencePlan(calls=4, threads=4)),
        ("transformer", 2, 4, 3, InferencePlan(calls=3, threads=4)),
        ("transformer", 1, None, None, InferencePlan(calls=1, threads=1)),
        # A linear model: one call at a time on all the CPUs unless told otherwise.
        ("linear", 16, None, None, InferencePlan(calls=1, threads=16)),
        ("linear", 16, 2, 3, InferencePlan(calls=3, threads=2)),
    ],
)
def test_inference_plan_fills_in_what_is_not_configured(
    family: str, cpus: int, threads: int | None, calls: int | None, expected: InferencePlan
) -> None:
    assert inference_plan(family, cpus, threads=threads, calls=calls) == expected

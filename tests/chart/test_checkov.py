"""checkov over every rendered scenario finds no failed check that tests/chart/checkov_audit.py
does not justify. checkov is optional (not a workspace dependency): the test skips without it."""

from __future__ import annotations

import shutil

import pytest

from tests.chart.checkov_audit import CHECKOV_VERSION, JUSTIFIED, audit
from tests.chart.scenarios import scenario_names

CHECKOV = shutil.which("checkov")


@pytest.mark.skipif(
    CHECKOV is None,
    reason=f"checkov is not on PATH: install checkov=={CHECKOV_VERSION} in a virtualenv of its "
    "own and put it on PATH (see tests/chart/checkov_audit.py)",
)
def test_checkov_finds_nothing_unjustified() -> None:
    assert CHECKOV is not None
    unjustified, justified = audit(CHECKOV, scenario_names())
    assert [f.line() for f in unjustified] == []
    # A justification nothing needs any more goes: the list stays what the chart needs.
    assert {f.check for f in justified} == set(JUSTIFIED)


def test_every_justification_is_one_line() -> None:
    for check, reason in JUSTIFIED.items():
        assert check.startswith(("CKV_K8S_", "CKV2_K8S_")), check
        assert reason, check
        assert "\n" not in reason, check

"""The promotion gate: floor, margin, per-class drops and who may veto."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from prodcat_core.gate import GatePolicy, decide
from prodcat_core.metrics import ClassScores, Scores


def _scores(weighted_f1: float, per_class: dict[int, tuple[float, int]] | None = None) -> Scores:
    classes = per_class or {10: (weighted_f1, 100), 40: (weighted_f1, 100)}
    return Scores(
        n=sum(support for _, support in classes.values()),
        weighted_f1=weighted_f1,
        macro_f1=weighted_f1,
        accuracy=weighted_f1,
        ece=0.05,
        per_class={
            code: ClassScores(name=str(code), precision=f1, recall=f1, f1=f1, support=support)
            for code, (f1, support) in classes.items()
        },
    )


def test_first_promotion_with_no_champion() -> None:
    decision = decide(_scores(0.7), None, GatePolicy())
    assert decision.promote
    assert decision.champion_weighted_f1 is None
    assert decision.candidate_weighted_f1 == 0.7
    assert "no champion yet" in decision.summary()
    assert decision.summary().startswith("promoted")


def test_first_promotion_still_needs_the_floor() -> None:
    decision = decide(_scores(0.4), None, GatePolicy(min_weighted_f1=0.5))
    assert not decision.promote
    assert decision.reasons == ["weighted F1 0.4000 is below the floor 0.5000"]
    assert decision.summary().startswith("not promoted because")


def test_improvement_is_promoted() -> None:
    decision = decide(_scores(0.82), _scores(0.80), GatePolicy(min_improvement=0.01))
    assert decision.promote
    assert decision.champion_weighted_f1 == 0.80
    assert "0.8200 >= champion 0.8000 + margin 0.0100" in decision.reasons[0]


def test_improvement_below_the_margin_is_not_promoted() -> None:
    decision = decide(_scores(0.805), _scores(0.80), GatePolicy(min_improvement=0.01))
    assert not decision.promote
    assert "0.8050 < champion 0.8000 + margin 0.0100" in decision.reasons[0]


def test_equal_scores_pass_a_zero_margin() -> None:
    assert decide(_scores(0.8), _scores(0.8), GatePolicy()).promote


def test_a_negative_margin_tolerates_a_small_loss() -> None:
    assert decide(_scores(0.79), _scores(0.80), GatePolicy(min_improvement=-0.02)).promote
    assert not decide(_scores(0.77), _scores(0.80), GatePolicy(min_improvement=-0.02)).promote


def test_a_class_drop_over_the_limit_vetoes() -> None:
    champion = _scores(0.80, {10: (0.90, 100), 40: (0.70, 100), 50: (0.80, 100)})
    candidate = _scores(0.85, {10: (0.95, 100), 40: (0.60, 100), 50: (0.70, 100)})
    decision = decide(candidate, champion, GatePolicy(max_class_drop=0.05))
    assert not decision.promote
    assert len(decision.reasons) == 1
    reason = decision.reasons[0]
    assert "class F1 fell by more than 0.050" in reason
    assert "40 (-0.100)" in reason
    assert "50 (-0.100)" in reason
    assert "10 (" not in reason


def test_a_class_drop_within_the_limit_passes() -> None:
    champion = _scores(0.80, {10: (0.90, 100), 40: (0.70, 100)})
    candidate = _scores(0.81, {10: (0.86, 100), 40: (0.76, 100)})
    assert decide(candidate, champion, GatePolicy(max_class_drop=0.05)).promote


def test_a_small_support_class_cannot_veto() -> None:
    champion = _scores(0.80, {10: (0.90, 100), 40: (0.90, 5)})
    candidate = _scores(0.82, {10: (0.90, 100), 40: (0.10, 5)})
    assert decide(candidate, champion, GatePolicy(min_class_support=20)).promote
    # The same drop with enough support vetoes.
    assert not decide(candidate, champion, GatePolicy(min_class_support=5)).promote


def test_a_class_the_champion_never_had_cannot_veto() -> None:
    champion = _scores(0.80, {10: (0.90, 100)})
    candidate = _scores(0.81, {10: (0.90, 100), 2905: (0.0, 100)})
    assert decide(candidate, champion, GatePolicy()).promote


def test_every_failure_is_reported() -> None:
    champion = _scores(0.80, {10: (0.90, 100)})
    candidate = _scores(0.40, {10: (0.40, 100)})
    decision = decide(candidate, champion, GatePolicy(min_weighted_f1=0.5))
    assert not decision.promote
    assert len(decision.reasons) == 3
    assert "below the floor" in decision.reasons[0]
    assert "< champion" in decision.reasons[1]
    assert "10 (-0.500)" in decision.reasons[2]


@pytest.mark.parametrize(
    "bad",
    [
        {"min_weighted_f1": 1.5},
        {"min_improvement": -2.0},
        {"max_class_drop": -0.1},
        {"min_class_support": -1},
    ],
)
def test_policy_bounds(bad: dict[str, float]) -> None:
    with pytest.raises(ValidationError):
        GatePolicy.model_validate(bad)

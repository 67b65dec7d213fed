"""The promotion gate: whether a candidate model may replace the champion.

Both models are scored on the same rows by the evaluate stage; the gate only compares the scores,
so the evaluate stage, the data API's promote action and the tests all decide the same way."""

from __future__ import annotations

from pydantic import BaseModel, Field

from prodcat_core.metrics import Scores


class GatePolicy(BaseModel):
    min_weighted_f1: float = Field(
        0.0, ge=0, le=1, description="floor for any promotion, the first one included"
    )
    min_improvement: float = Field(
        0.0, ge=-1, le=1, description="candidate weighted F1 must be >= champion's + this"
    )
    max_class_drop: float = Field(
        0.05, ge=0, le=1, description="no class's F1 may fall by more than this"
    )
    min_class_support: int = Field(
        20, ge=0, description="classes with fewer test rows are too noisy to veto a promotion"
    )


class GateDecision(BaseModel):
    promote: bool
    reasons: list[str]
    candidate_weighted_f1: float
    champion_weighted_f1: float | None

    def summary(self) -> str:
        verdict = "promoted" if self.promote else "not promoted because"
        return f"{verdict} {'; '.join(self.reasons)}"


def decide(candidate: Scores, champion: Scores | None, policy: GatePolicy) -> GateDecision:
    """Promote when every rule of the policy holds; the reasons say which rules decided."""
    failures: list[str] = []
    passes: list[str] = []
    if candidate.weighted_f1 < policy.min_weighted_f1:
        failures.append(
            f"weighted F1 {candidate.weighted_f1:.4f} is below the floor "
            f"{policy.min_weighted_f1:.4f}"
        )
    if champion is None:
        passes.append(f"there is no champion yet (weighted F1 {candidate.weighted_f1:.4f})")
    else:
        needed = champion.weighted_f1 + policy.min_improvement
        if candidate.weighted_f1 < needed:
            failures.append(
                f"weighted F1 {candidate.weighted_f1:.4f} < champion {champion.weighted_f1:.4f} "
                f"+ margin {policy.min_improvement:.4f}"
            )
        else:
            passes.append(
                f"weighted F1 {candidate.weighted_f1:.4f} >= champion {champion.weighted_f1:.4f} "
                f"+ margin {policy.min_improvement:.4f}"
            )
        drops = [
            (code, champion.per_class[code].f1 - cls.f1)
            for code, cls in candidate.per_class.items()
            if code in champion.per_class and cls.support >= policy.min_class_support
        ]
        worst = [(code, drop) for code, drop in drops if drop > policy.max_class_drop]
        if worst:
            listed = ", ".join(
                f"{code} (-{drop:.3f})" for code, drop in sorted(worst, key=lambda w: -w[1])
            )
            failures.append(f"class F1 fell by more than {policy.max_class_drop:.3f} for {listed}")
    return GateDecision(
        promote=not failures,
        reasons=failures or passes,
        candidate_weighted_f1=candidate.weighted_f1,
        champion_weighted_f1=champion.weighted_f1 if champion else None,
    )

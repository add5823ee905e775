"""The operational risk score: a weighted mean of three terms, each in [0, 1]. Pure.

    risk = (w_f * failure_rate + w_r * rollbacks + w_b * budget_burn) / (w_f + w_r + w_b)

- failure_rate: failed / (completed + failed) over the last ``window`` task outcomes (0 with none);
- rollbacks: rollbacks since the oldest of those outcomes, divided by ``rollback_cap``, at most 1;
- budget_burn: the highest percent of its limit any budget's current window has spent, / 100,
  at most 1 (0 with no budget).

Defaults (docs/GOVERNANCE.md): w_f 0.5, w_r 0.3, w_b 0.2, window 20, rollback_cap 3; the gate
compares the score with ``max_risk`` of the mode (dev 0.8, staging 0.6, prod 0.4).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from .inputs import BudgetUse
from .facts import Facts


@dataclass(frozen=True)
class RiskScore:
    score: float
    failure_rate: float
    rollbacks: float
    budget_burn: float
    seqs: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"score": round(self.score, 4), "failure_rate": round(self.failure_rate, 4),
                "rollbacks": round(self.rollbacks, 4), "budget_burn": round(self.budget_burn, 4)}


def risk_score(facts: Facts, budgets: tuple[BudgetUse, ...], settings: Mapping[str, Any]) -> RiskScore:
    """Compute the score from the facts, the budgets' use and the operations gate's settings."""
    outcomes = list(facts.outcomes)
    failed = sum(1 for _, ok in outcomes if not ok)
    failure_rate = failed / len(outcomes) if outcomes else 0.0
    recent = facts.recent_rollbacks()
    rollbacks = min(1.0, len(recent) / settings["rollback_cap"])
    burn = min(1.0, max((b.percent for b in budgets), default=0.0) / 100)
    weights = settings["weights"]
    parts = {"failure_rate": failure_rate, "rollbacks": rollbacks, "budget_burn": burn}
    total = sum(weights.get(k, 0) for k in parts)
    score = sum(weights.get(k, 0) * v for k, v in parts.items()) / total
    seqs = tuple(seq for seq, ok in outcomes if not ok) + tuple(recent)
    return RiskScore(score, failure_rate, rollbacks, burn, seqs)

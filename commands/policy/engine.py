"""Evaluation: pure, synchronous and I/O-free, so it can sit on every command's hot path."""
from __future__ import annotations

from typing import Any, Mapping

from eventlog.errors import InvalidEventError

from .model import POINTS, Decision, PolicySet, Verdict

#: The rule name recorded when no policy could be loaded and the engine fails closed.
UNAVAILABLE_RULE = "policy-unavailable"


def evaluate(policy: PolicySet, point: str, context: Mapping[str, Any]) -> Verdict:
    """Decide at ``point``: the strictest outcome of the point's rules wins, the first such rule decides.

    DENY beats REQUIRE_APPROVAL beats ALLOW; the first DENY ends evaluation. With no objection
    the verdict is ALLOW (naming a budget rule when it raised an alert).
    """
    if point not in POINTS:
        raise InvalidEventError(f"unknown enforcement point {point!r} (expected one of {', '.join(POINTS)})")
    if not isinstance(context, Mapping):
        raise InvalidEventError(f"the context must be an object, got {type(context).__name__}")
    best = None
    best_rule = None
    for rule in policy.points.get(point, ()):
        outcome = rule.check(context)
        if outcome is None:
            continue
        if outcome.decision is Decision.DENY:
            return Verdict(Decision.DENY, point, rule.name, outcome.reason, outcome.findings, outcome.alerts)
        if best is None or outcome.decision.strictness > best.decision.strictness:
            best, best_rule = outcome, rule.name
    if best is None:
        return Verdict(Decision.ALLOW, point, None, "no rule objected")
    return Verdict(best.decision, point, best_rule, best.reason, best.findings, best.alerts)


def unavailable(point: str, why: str) -> Verdict:
    """The fail-closed verdict when the policy file exists but no valid policy could be loaded."""
    if point not in POINTS:
        raise InvalidEventError(f"unknown enforcement point {point!r} (expected one of {', '.join(POINTS)})")
    return Verdict(Decision.DENY, point, UNAVAILABLE_RULE, f"no valid policy is loaded: {why}")

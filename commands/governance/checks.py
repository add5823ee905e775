"""Type checks of each gate's settings in governance.yaml, naming the key that is wrong. Pure."""
from __future__ import annotations

from typing import Any, Callable, Mapping

from .model import MODES, GovernanceConfigError


def _number(low: float = 0, high: float | None = None, whole: bool = False) -> Callable[[Any], bool]:
    def ok(value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
            return False
        if whole and value != int(value):
            return False
        return value >= low and (high is None or value <= high)
    return ok


def _names(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) and v for v in value)


def _each_mode(ok: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda value: isinstance(value, Mapping) and all(ok(value[m]) for m in MODES)


def _roles(value: Any) -> bool:
    return isinstance(value, Mapping) and all(isinstance(k, str) and isinstance(v, list) and all(m in MODES for m in v)
                                              for k, v in value.items())


def _weights(value: Any) -> bool:
    return (isinstance(value, Mapping) and set(value) <= {"failure_rate", "rollbacks", "budget_burn"}
            and all(_number()(v) for v in value.values()) and sum(value.values()) > 0)


def _owners(value: Any) -> bool:
    return isinstance(value, Mapping) and all(isinstance(k, str) and _names(v) for k, v in value.items())


def _checks(value: Any) -> bool:
    from commands.policy.model import POINTS

    return isinstance(value, list) and all(
        isinstance(c, Mapping) and c.get("point") in POINTS and isinstance(c.get("context", {}), Mapping)
        and set(c) <= {"point", "context"} for c in value)


#: What each key must hold, and how to say so.
RULES: dict[str, dict[str, tuple[Callable[[Any], bool], str]]] = {
    "security": {"roles": (_roles, "a mapping role -> list of modes"),
                 "sources": (_each_mode(_names), "a list of sources (or one per mode)")},
    "quality": {"min_coverage": (_each_mode(_number(0, 100)), "a percentage 0-100 (or one per mode)"),
                "max_lint_errors": (_each_mode(_number(whole=True)), "a whole number >= 0 (or one per mode)"),
                "require_coverage": (_each_mode(lambda v: isinstance(v, bool)), "true or false (or one per mode)"),
                "coverage_gates": (_names, "a list of quality.gate names"),
                "lint_gates": (_names, "a list of quality.gate names")},
    "operations": {"audit": (lambda v: v in ("chain", "full", "off"), "chain, full or off"),
                   "window": (_number(1, 100_000, whole=True), "a whole number 1-100000"),
                   "rollback_cap": (_number(1, whole=True), "a whole number >= 1"),
                   "weights": (_weights, "a mapping of failure_rate, rollbacks, budget_burn to numbers >= 0, not all 0"),
                   "max_risk": (_each_mode(_number(0, 1)), "a number 0-1 (or one per mode)")},
    "plan_approval": {},
    "tenant": {"owners": (_owners, "a mapping tenant -> list of resource patterns"),
               "unowned": (lambda v: v in ("ok", "concern", "violation"), "ok, concern or violation")},
    "consensus": {"reviewers": (_names, "a list of reviewer names"),
                  "required": (_each_mode(_number(whole=True)), "a whole number >= 0 (or one per mode)")},
    "policy": {"checks": (_checks, "a list of {point, context} with a policy enforcement point")},
    "budget": {"max_percent": (_each_mode(_number(0)), "a percentage >= 0 (or one per mode)")},
    "residency": {},
}


def check_gate_settings(where: str, gate: str, settings: Mapping[str, Any],
                        written: Mapping[str, Any] | None = None) -> None:
    """Raise GovernanceConfigError naming the first key of ``settings`` that holds a wrong value
    (quoting it as ``written`` in the file, when given)."""
    shown = settings if written is None else written
    for key, (ok, expected) in RULES[gate].items():
        if not ok(settings.get(key)):
            raise GovernanceConfigError(f"{where}.{key} must be {expected}, not {shown.get(key)!r}")
    reviewers, required = settings.get("reviewers"), settings.get("required")
    if gate == "consensus" and reviewers and any(required[m] > len(reviewers) for m in MODES):
        raise GovernanceConfigError(f"{where}.required asks for more votes than there are reviewers ({len(reviewers)})")


def check_security_monotone(where: str, settings: Mapping[str, Any]) -> None:
    """Sources allowed in a stricter mode must be allowed in every more lenient one; so must roles."""
    sources = settings["sources"]
    for lenient, strict in zip(MODES, MODES[1:]):
        if "*" not in sources[lenient] and not set(sources[strict]) <= set(sources[lenient]):
            raise GovernanceConfigError(f"{where}.sources: {strict} allows sources {lenient} does not "
                                        f"({sorted(set(sources[strict]) - set(sources[lenient]))})")
    for role, modes in settings["roles"].items():
        reach = max((MODES.index(m) for m in modes), default=-1)
        if set(modes) != set(MODES[:reach + 1]):
            raise GovernanceConfigError(f"{where}.roles.{role}: a role allowed in {MODES[reach]} must be allowed "
                                        f"in every more lenient mode too, not only {sorted(modes)}")

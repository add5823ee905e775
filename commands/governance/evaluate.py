"""Evaluating the nine gates in one mode: pure, synchronous and I/O-free (the hot path).

A gate's check finds a level (OK, CONCERN, VIOLATION); the mode's verdict map turns it into
PASS, PAUSE or REJECT. Then two adjustments, in this order: a gate the learning loop marked
flaky has its REJECT downgraded to PAUSE in dev and staging (never in prod, never for the hard
gates); and a gate whose PAUSE was already approved in this run passes.
"""
from __future__ import annotations

from typing import Callable, Mapping

from . import gates_context, gates_core
from .config import GovernanceConfig
from .inputs import Inputs
from .model import HARD_GATES, Finding, GateResult, Level, Verdict, strictest

CHECKS: dict[str, Callable[..., Finding]] = {
    "security": gates_core.security, "quality": gates_core.quality, "operations": gates_core.operations,
    "plan_approval": gates_core.plan_approval, "tenant": gates_context.tenant,
    "consensus": gates_context.consensus, "policy": gates_context.policy, "budget": gates_context.budget,
    "residency": gates_context.residency,
}

#: Modes in which a flaky gate's REJECT becomes a PAUSE.
FLAKY_LENIENT_MODES = frozenset({"dev", "staging"})


def evaluate_gate(config: GovernanceConfig, inputs: Inputs, mode: str, gate: str, *,
                  flaky: frozenset[str] = frozenset(), approved: Mapping[str, str] | None = None) -> GateResult:
    """Evaluate one gate in ``mode``."""
    if gate not in config.enabled:
        return GateResult(gate, Verdict.PASS, Level.OK, ("disabled in governance.yaml",))
    finding = CHECKS[gate](config.settings[mode][gate], inputs, mode)
    on_concern, on_violation = config.verdicts[mode][gate]
    if finding.level is Level.OK:
        verdict = Verdict.PASS
    elif finding.level is Level.CONCERN:
        verdict = on_concern
    else:
        verdict = Verdict.REJECT if gate in HARD_GATES else on_violation
    downgraded = approver = None
    if verdict is Verdict.REJECT and gate in flaky and mode in FLAKY_LENIENT_MODES and gate not in HARD_GATES:
        verdict, downgraded = Verdict.PAUSE, "flaky"
    if verdict is Verdict.PAUSE and approved and gate in approved:
        verdict, approver = Verdict.PASS, approved[gate]
    reasons = finding.reasons
    if verdict is Verdict.PASS and finding.level is not Level.OK and approver is None:
        reasons += (f"a {finding.level.name.lower()} passes in {mode}",)
    return GateResult(gate, verdict, finding.level, reasons, finding.inputs, finding.facts, downgraded, approver)


def evaluate(config: GovernanceConfig, inputs: Inputs, mode: str, *, flaky: frozenset[str] = frozenset(),
             approved: Mapping[str, str] | None = None, gates: tuple[str, ...] | None = None) -> list[GateResult]:
    """Evaluate every gate (or ``gates``) in the mode's order."""
    chosen = config.order[mode] if gates is None else tuple(g for g in config.order[mode] if g in gates)
    return [evaluate_gate(config, inputs, mode, gate, flaky=flaky, approved=approved) for gate in chosen]


def outcome(results: list[GateResult]) -> Verdict:
    """The run's verdict: REJECT if any gate rejects, else PAUSE if any pauses, else PASS."""
    return strictest(r.verdict for r in results)

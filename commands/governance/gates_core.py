"""The reference's four gates: security, quality, operations and plan approval. Pure checks.

Each takes the gate's settings (resolved for the mode), the gathered inputs and the mode, and
returns a :class:`Finding`; the mode turns its level into a verdict (see evaluate.py).
"""
from __future__ import annotations

from typing import Any, Mapping

from .inputs import Inputs
from .model import Finding, Level
from .risk import risk_score


def security(settings: Mapping[str, Any], inputs: Inputs, mode: str) -> Finding:
    """The caller's token role, or its event source, must be allowed in the mode."""
    caller = inputs.caller
    if caller.error:
        return Finding(Level.VIOLATION, (f"token refused: {caller.error}",))
    if caller.token_id is not None:
        allowed = mode in settings["roles"].get(caller.role or "", ())
        verb = "may" if allowed else "may not"
        return Finding(Level.OK if allowed else Level.VIOLATION,
                       (f"token {caller.token_id} (role {caller.role}, scopes {'+'.join(caller.scopes)}) {verb} run in {mode}",),
                       facts={"token_id": caller.token_id, "role": caller.role})
    sources = settings["sources"]
    if "*" in sources or caller.source in sources:
        return Finding(Level.OK, (f"source {caller.source!r} may run in {mode} without a token",),
                       facts={"source": caller.source})
    shown = ", ".join(sources) if sources else "none"
    return Finding(Level.VIOLATION, (f"source {caller.source!r} may not run in {mode} without a token "
                                     f"(allowed sources: {shown}; present a token with --token or LOKILOG_TOKEN)",),
                   facts={"source": caller.source})


def quality(settings: Mapping[str, Any], inputs: Inputs, mode: str) -> Finding:
    """Coverage at least ``min_coverage``, lint errors at most ``max_lint_errors``, no failing gate."""
    results = inputs.facts.quality
    reasons, level, seqs = [], Level.OK, []
    coverage = [results[g] for g in settings["coverage_gates"] if g in results]
    lint = [results[g] for g in settings["lint_gates"] if g in results]
    for result in coverage:
        seqs.append(result.seq)
        if result.value is not None and result.value < settings["min_coverage"]:
            level = Level.VIOLATION
            reasons.append(f"coverage {result.value:g}% < {settings['min_coverage']:g}% (seq {result.seq})")
        elif result.value is not None:
            reasons.append(f"coverage {result.value:g}% >= {settings['min_coverage']:g}%")
    if not any(r.value is not None for r in coverage):
        if settings["require_coverage"]:
            level = max(level, Level.CONCERN)
        reasons.append(f"no coverage figure reported{' (required in ' + mode + ')' if settings['require_coverage'] else ''}")
    for result in lint:
        seqs.append(result.seq)
        if result.value is not None and result.value > settings["max_lint_errors"]:
            level = Level.VIOLATION
            reasons.append(f"{result.value:g} lint errors > {settings['max_lint_errors']} (seq {result.seq})")
    for result in results.values():
        if result.result in ("fail", "failed", "error"):
            seqs.append(result.seq)
            level = Level.VIOLATION
            reasons.append(f"quality gate {result.gate} failed (seq {result.seq})")
    return Finding(level, tuple(reasons), tuple(seqs), {"min_coverage": settings["min_coverage"]})


def operations(settings: Mapping[str, Any], inputs: Inputs, mode: str) -> Finding:
    """The audit chain verifies and the operational risk score is at most ``max_risk``."""
    audit = inputs.audit
    risk = risk_score(inputs.facts, inputs.budgets, settings)
    facts = {"risk": risk.to_dict(), "max_risk": settings["max_risk"], "audit": audit.checked}
    reasons, level = [], Level.OK
    if not audit.valid:
        level = Level.VIOLATION
        where = f" at seq {audit.broken_at}" if audit.broken_at is not None else ""
        reasons.append(f"audit chain broken{where}: {audit.error}")
    elif audit.checked != "off":
        reasons.append(f"audit chain valid ({audit.entries} entries, {audit.checked} check)")
    parts = f"failure rate {risk.failure_rate:.2f}, rollbacks {risk.rollbacks:.2f}, budget burn {risk.budget_burn:.2f}"
    if risk.score > settings["max_risk"]:
        level = Level.VIOLATION
        reasons.append(f"risk {risk.score:.2f} > {settings['max_risk']:g} for {mode} ({parts})")
    else:
        reasons.append(f"risk {risk.score:.2f} <= {settings['max_risk']:g} ({parts})")
    seqs = risk.seqs + ((audit.head_seq,) if audit.head_seq else ())
    return Finding(level, tuple(reasons), seqs, facts)


def plan_approval(settings: Mapping[str, Any], inputs: Inputs, mode: str) -> Finding:
    """The run's plan has a granted approval (the latest answer about it decides)."""
    latest = None
    for approval in (inputs.approvals.approvals.values() if inputs.approvals is not None else ()):
        context = approval.context or {}
        if approval.status == "pending" or context.get("plan") != inputs.plan:
            continue
        if latest is None or (approval.decided_seq or 0) > (latest.decided_seq or 0):
            latest = approval
    if latest is not None and latest.status == "granted":
        return Finding(Level.OK, (f"plan {inputs.plan!r} approved by {latest.decided_by} ({latest.approval_id})",),
                       (latest.decided_seq or 0,))
    if latest is not None:
        return Finding(Level.CONCERN, (f"plan {inputs.plan!r} was last denied by {latest.decided_by} "
                                       f"({latest.approval_id}); it needs a new approval",), (latest.decided_seq or 0,))
    return Finding(Level.CONCERN, (f"plan {inputs.plan!r} has no approval yet",))

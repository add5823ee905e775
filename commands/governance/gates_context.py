"""Our five context gates: tenant scope, consensus, policy, budget and data residency. Pure checks."""
from __future__ import annotations

import functools
import re
from fnmatch import translate
from typing import Any, Callable, Mapping

from .inputs import Inputs
from .model import Finding, Level

_UNOWNED = {"ok": Level.OK, "concern": Level.CONCERN, "violation": Level.VIOLATION}


def tenant(settings: Mapping[str, Any], inputs: Inputs, mode: str) -> Finding:
    """Every touched resource belongs to the run's tenant, and no event names another tenant."""
    mine, owners = inputs.tenant, settings["owners"]
    level, reasons, seqs = Level.OK, [], []
    for other, where in inputs.facts.tenants.items():
        if other != mine:
            level = Level.VIOLATION
            seqs += where
            reasons.append(f"events name tenant {other!r}, not the run's {mine!r} (seq {where[0]})")
    touched = {**{r: [] for r in inputs.resources}, **inputs.facts.resources}
    owner_of = _owner_matcher(tuple((t, tuple(p)) for t, p in owners.items()))
    for resource, where in touched.items():
        owner = owner_of(resource)
        if owner is not None and owner != mine:
            level = Level.VIOLATION
            seqs += where
            reasons.append(f"{resource} belongs to tenant {owner!r}, not {mine!r}")
        elif owner is None and owners and _UNOWNED[settings["unowned"]] > Level.OK:
            level = max(level, _UNOWNED[settings["unowned"]])
            seqs += where
            reasons.append(f"{resource} belongs to no tenant")
    if not reasons:
        reasons.append(f"{len(touched)} touched resource(s) within tenant {mine!r}")
    return Finding(level, tuple(reasons), tuple(seqs), {"tenant": mine})


@functools.lru_cache(maxsize=32)
def _owner_matcher(owners: tuple[tuple[str, tuple[str, ...]], ...]) -> Callable[[str], str | None]:
    """One compiled regex for all tenants' patterns (fnmatch syntax, case-sensitive): the first tenant wins."""
    if not owners:
        return lambda resource: None
    groups = "|".join(f"(?P<t{i}>{'|'.join(translate(p) for p in patterns) or '(?!)'})"
                      for i, (_, patterns) in enumerate(owners))
    matcher = re.compile(groups)

    def owner(resource: str) -> str | None:
        found = matcher.match(resource)
        return owners[int(found.lastgroup[1:])][0] if found else None
    return owner


def consensus(settings: Mapping[str, Any], inputs: Inputs, mode: str) -> Finding:
    """At least N approving votes of the M reviewers (a vote naming the plan beats one naming none)."""
    needed, reviewers = settings["required"], settings["reviewers"]
    votes = {}
    for (plan, reviewer), vote in inputs.facts.votes.items():
        if plan in (None, inputs.plan) and (reviewer not in votes or plan is not None):
            votes[reviewer] = vote
    if reviewers:
        votes = {r: v for r, v in votes.items() if r in reviewers}
    approving = sorted(r for r, v in votes.items() if v.approved)
    rejecting = sorted(r for r, v in votes.items() if not v.approved)
    seqs = tuple(v.seq for v in votes.values())
    of = len(reviewers) if reviewers else len(votes)
    facts = {"required": needed, "reviewers": of, "approve": approving, "reject": rejecting}
    if needed == 0:
        return Finding(Level.OK, (f"no votes required in {mode}",), seqs, facts)
    if len(approving) >= needed:
        return Finding(Level.OK, (f"{len(approving)} of {of} reviewers approve ({needed} needed)",), seqs, facts)
    if reviewers and len(rejecting) > len(reviewers) - needed:
        return Finding(Level.VIOLATION, (f"{len(rejecting)} of {of} reviewers reject ({', '.join(rejecting)}): "
                                         f"{needed} approvals can no longer be reached",), seqs, facts)
    return Finding(Level.CONCERN, (f"{len(approving)} of {needed} needed approving votes so far"
                                   f"{' (' + ', '.join(rejecting) + ' reject)' if rejecting else ''}",), seqs, facts)


def policy(settings: Mapping[str, Any], inputs: Inputs, mode: str) -> Finding:
    """Each configured check passes the policy engine: DENY is a violation, REQUIRE_APPROVAL a concern."""
    if inputs.policy is None or not inputs.policy_checks:
        return Finding(Level.OK, ("no policy check configured",))
    level, reasons = Level.OK, []
    for point, context in inputs.policy_checks:
        verdict = inputs.policy.evaluate(point, context)
        found = {"allow": Level.OK, "require_approval": Level.CONCERN, "deny": Level.VIOLATION}[verdict.decision.value]
        level = max(level, found)
        reasons.append(f"{point}: {verdict.decision.value} ({verdict.rule or 'no rule objected'}: {verdict.reason})"
                       if verdict.rule else f"{point}: allow ({verdict.reason})")
    return Finding(level, tuple(reasons))


def budget(settings: Mapping[str, Any], inputs: Inputs, mode: str) -> Finding:
    """No budget's current window beyond ``max_percent`` of its limit (its on_exceed says how bad that is)."""
    if inputs.budget_error:
        return Finding(Level.VIOLATION, (f"budgets cannot be read: {inputs.budget_error}",))
    if not inputs.budgets:
        return Finding(Level.OK, ("no budgets configured",))
    level, reasons, seqs = Level.OK, [], []
    ceiling = settings["max_percent"]
    for use in inputs.budgets:
        seqs += use.seqs
        if use.percent <= ceiling:
            reasons.append(f"budget {use.name} at {use.percent:.1f}% of its limit ({use.window})")
            continue
        found = {"deny": Level.VIOLATION, "require_approval": Level.CONCERN}.get(use.on_exceed, Level.OK)
        level = max(level, found)
        reasons.append(f"budget {use.name} at {use.percent:.1f}% > {ceiling:g}% ({use.window}, on_exceed {use.on_exceed})")
    return Finding(level, tuple(reasons), tuple(seqs))


def residency(settings: Mapping[str, Any], inputs: Inputs, mode: str) -> Finding:
    """Every provider (and region) the run used is allowed by the residency rules."""
    from commands.audit.residency import check_provider

    if inputs.residency_error:
        return Finding(Level.VIOLATION, (f"residency rules cannot be read: {inputs.residency_error}",))
    level, reasons, seqs = Level.OK, [], []
    for (provider, region), where in inputs.facts.providers.items():
        decision = check_provider(provider, region, inputs.residency)
        if not decision.allowed:
            level = Level.VIOLATION
            seqs += where
            reasons.append(f"{provider}{'/' + region if region else ''}: {decision.reason} (seq {where[0]})")
    if not reasons:
        reasons.append(f"{len(inputs.facts.providers)} provider(s) used, all allowed")
    return Finding(level, tuple(reasons), tuple(seqs))

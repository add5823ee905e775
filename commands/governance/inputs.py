"""Everything one evaluation reads, gathered beforehand, so that evaluating is pure and fast."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .facts import Facts


@dataclass(frozen=True)
class Caller:
    """Who asks for the run: a control-plane token (by id and role, never the token) or an event source."""

    source: str
    token_id: str | None = None
    role: str | None = None
    scopes: tuple[str, ...] = ()
    error: str | None = None  # a token was presented but is unknown or expired, or the store is broken


@dataclass(frozen=True)
class AuditCheck:
    """The audit chain as `audit verify` found it (``checked`` is off, chain or full)."""

    checked: str
    valid: bool = True
    error: str | None = None
    head_seq: int = 0
    entries: int = 0
    broken_at: int | None = None


@dataclass(frozen=True)
class BudgetUse:
    """One budget's current window: spend as a percent of its limit."""

    name: str
    unit: str
    window: str
    percent: float
    on_exceed: str
    seqs: tuple[int, ...] = ()


@dataclass(frozen=True)
class Inputs:
    """The facts and settings the nine gates judge, as of ``facts.head_seq``."""

    run_id: str
    plan: str
    facts: Facts
    caller: Caller
    tenant: str = "default"
    resources: tuple[str, ...] = ()           # resources the run declares it will touch
    audit: AuditCheck = AuditCheck("off")
    budgets: tuple[BudgetUse, ...] = ()
    budget_error: str | None = None
    approvals: Any = None                     # projections.approvals.ApprovalsState
    policy: Any = None                        # commands.policy.store.PolicyStore (evaluation is pure)
    policy_checks: tuple[tuple[str, dict[str, Any]], ...] = ()  # (point, prepared context)
    residency: Any = None                     # commands.audit.residency.ResidencyPolicy
    residency_error: str | None = None

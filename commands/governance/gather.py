"""Gathering the inputs of one evaluation: the log folded once, and the files beside it.

This is the I/O edge of the pipeline. One pass over the log feeds three folds at once (the
gates' facts, the approvals projection and the cost ledger); then the audit chain is verified,
and the budgets, token store, tenant, policy and residency rules are read. Every failure to
read a rule file becomes a finding of the gate it belongs to (fail closed), never a crash.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

from eventlog import EventLogError

from .config import GovernanceConfig
from .facts import FactsFold
from .inputs import AuditCheck, BudgetUse, Caller, Inputs


def gather(loki_dir: Path, log, config: GovernanceConfig, mode: str, *, run_id: str, plan: str,
           source: str = "cli", token: str | None = None, resources: tuple[str, ...] = (),
           env: Mapping[str, str] | None = None) -> Inputs:
    """Read everything the gates judge, as of the log's head now."""
    from projections.approvals import ApprovalsProjection
    from projections.cost import CostProjection

    env = os.environ if env is None else env
    settings = config.settings[mode]
    folds = [FactsFold(settings["operations"]["window"]), ApprovalsProjection(resolved_kept=None), CostProjection()]
    states = [f.initial() for f in folds]
    for batch in log.read_batches():
        for event in batch:
            for position, folder in enumerate(folds):
                states[position] = folder.apply(states[position], event)
    facts, approvals, cost = states
    budgets, budget_error = _budgets(loki_dir, cost)
    policy, checks = _policy(loki_dir, settings["policy"]["checks"], facts)
    residency, residency_error = _residency(loki_dir, env)
    return Inputs(
        run_id=run_id, plan=plan, facts=facts, caller=_caller(loki_dir, source, token, env),
        tenant=run_tenant(loki_dir), resources=tuple(resources), audit=_audit(loki_dir, settings["operations"]["audit"]),
        budgets=budgets, budget_error=budget_error, approvals=approvals, policy=policy, policy_checks=checks,
        residency=residency, residency_error=residency_error,
    )


def _caller(loki_dir: Path, source: str, token: str | None, env: Mapping[str, str]) -> Caller:
    if not token:
        return Caller(source=source)
    from commands.serve.token_store import TokenStore
    from commands.serve.tokens import match

    try:
        record = match(token, TokenStore(Path(loki_dir), env).all())
    except EventLogError as exc:
        return Caller(source=source, error=f"the token store cannot be read: {exc}")
    if record is None:
        return Caller(source=source, error="unknown or expired token")
    return Caller(source=source, token_id=record.id, role=record.role, scopes=tuple(sorted(record.granted)))


def run_tenant(loki_dir: Path) -> str:
    """The run's tenant: `tenant` of .loki/config.yaml (a name, or {id, name}), else ``default``.

    The same reading as the control plane's (commands/serve/compat.py), without its web imports.
    """
    from eventlog import settings_files
    from eventlog.errors import SettingsFileError

    try:
        data = settings_files.load(Path(loki_dir), "config")[0]
    except (OSError, SettingsFileError):
        return "default"
    value = data.get("tenant")
    if isinstance(value, dict):
        value = value.get("id") or value.get("name")
    return str(value) if value else "default"


def _audit(loki_dir: Path, how: str) -> AuditCheck:
    if how == "off":
        return AuditCheck("off")
    from projections.audit.trail import verify_trail

    try:
        result = verify_trail(Path(loki_dir), with_log=how == "full")
    except (EventLogError, OSError) as exc:
        return AuditCheck(how, valid=False, error=f"cannot verify: {exc}")
    head = result.head.seq if result.head else 0
    return AuditCheck(how, result.valid, result.error, head, result.entries, result.brokenAt)


def _budgets(loki_dir: Path, cost) -> tuple[tuple[BudgetUse, ...], str | None]:
    from projections.cost.budgets import current, spend
    from projections.cost.config import load_budgets, load_prices

    try:
        prices, budgets = load_prices(Path(loki_dir)), load_budgets(Path(loki_dir))
    except (EventLogError, OSError) as exc:
        return (), str(exc)
    uses = []
    for budget in budgets:
        window = current(spend(cost, prices, budget))
        seqs = tuple(v["seq"] for v in cost.fired.values() if v.get("budget") == budget.name and "seq" in v)
        uses.append(BudgetUse(budget.name, budget.unit, window.window, float(window.percent), budget.on_exceed, seqs))
    return tuple(uses), None


def _policy(loki_dir: Path, checks: list[dict[str, Any]], facts) -> tuple[Any, tuple]:
    from commands.policy.gate import prepare_context
    from commands.policy.store import PolicyStore

    store = PolicyStore(Path(loki_dir))
    prepared = []
    for check in checks:
        context = dict(check.get("context") or {})
        if check["point"] == "pre_deployment" and "passed_gates" not in context:
            context["passed_gates"] = sorted(g for g, r in facts.quality.items() if r.result in ("pass", "passed"))
        prepared.append((check["point"], prepare_context(context)))
    return store, tuple(prepared)


def _residency(loki_dir: Path, env: Mapping[str, str]):
    from commands.audit.residency import ResidencyPolicy, load_policy

    try:
        return load_policy(Path(loki_dir), env), None
    except (EventLogError, OSError) as exc:
        return ResidencyPolicy(), str(exc)

"""Each of the nine gates, in each mode: the verdict a real `.loki/` earns (PASS, PAUSE, REJECT)."""
from __future__ import annotations

import pytest

from commands.serve.token_store import TokenStore
from governance_helpers import GREEN, as_modes, emit, verdicts, write

PASS, PAUSE, REJECT = "PASS", "PAUSE", "REJECT"


@pytest.fixture
def green(loki):
    write(loki, "governance.yaml", GREEN)
    emit(loki, ("session", {"action": "start", "session_id": "s1"}))
    return loki


# ------------------------------------------------------------------ security


def test_security_sources_without_a_token_follow_the_default_allow_list(loki):
    emit(loki, ("session", {"action": "start", "session_id": "s1"}))
    assert verdicts(loki, "security") == as_modes(PASS, PASS, REJECT)  # dev: any; staging: cli, runner; prod: none


@pytest.mark.parametrize("role_scopes, expected", [
    (["control"], as_modes(PASS, PASS, PASS)),             # operator
    (["control", "audit"], as_modes(PASS, PASS, PASS)),    # admin
    (["read"], as_modes(REJECT, REJECT, REJECT)),          # viewer
])
def test_security_token_roles_against_the_rbac_rules(loki, role_scopes, expected):
    emit(loki, ("session", {"action": "start", "session_id": "s1"}))
    token = TokenStore(loki, env={}).create("caller", role_scopes).token
    assert verdicts(loki, "security", token=token) == expected


def test_security_an_unknown_token_is_rejected_in_every_mode(loki):
    emit(loki, ("session", {"action": "start", "session_id": "s1"}))
    assert verdicts(loki, "security", token="lkl_dead_" + "x" * 40) == as_modes(REJECT, REJECT, REJECT)


def test_security_roles_are_configurable(loki):
    write(loki, "governance.yaml", "gates:\n  security:\n    roles: {operator: [dev, staging]}\n")
    token = TokenStore(loki, env={}).create("caller", ["control"]).token
    assert verdicts(loki, "security", token=token) == as_modes(PASS, PASS, REJECT)


# ------------------------------------------------------------------ quality


@pytest.mark.parametrize("events, expected", [
    ([("quality", {"action": "gate", "gate": "coverage", "result": "pass", "coverage": 91})], as_modes(PASS, PASS, PASS)),
    ([("quality", {"action": "gate", "gate": "coverage", "result": "pass", "coverage": 70})], as_modes(PAUSE, REJECT, REJECT)),
    ([("quality", {"action": "gate", "gate": "lint", "result": "pass", "errors": 3})], as_modes(PAUSE, REJECT, REJECT)),
    ([("quality", {"action": "gate", "gate": "unit-tests", "result": "fail"})], as_modes(PAUSE, REJECT, REJECT)),
])
def test_quality_thresholds(green, events, expected):
    emit(green, *events)
    assert verdicts(green, "quality") == expected


def test_quality_a_missing_coverage_figure_pauses_where_it_is_required(loki):
    emit(loki, ("session", {"action": "start", "session_id": "s1"}))
    assert verdicts(loki, "quality") == as_modes(PASS, PAUSE, PAUSE)


def test_quality_only_the_current_session_counts(green):
    emit(green, ("quality", {"action": "gate", "gate": "unit-tests", "result": "fail"}),
         ("session", {"action": "start", "session_id": "s2"}))
    assert verdicts(green, "quality") == as_modes(PASS, PASS, PASS)


# ------------------------------------------------------------------ operations


def test_operations_risk_threshold_per_mode(green):
    emit(green, *[("task", {"action": "failed", "task_id": f"t{i}"}) for i in range(10)])
    # failure rate 1.0 -> risk 0.5: under dev's 0.8 and staging's 0.6, over prod's 0.4
    assert verdicts(green, "operations") == as_modes(PASS, PASS, REJECT)


def test_operations_rollbacks_and_budget_burn_add_to_the_risk(green):
    write(green, "policies.yaml", "policies:\n  resource:\n    - name: tokens\n      max_tokens: 1000\n      on_exceed: warn\n")
    emit(green, ("task", {"action": "failed", "task_id": "t1"}), ("task", {"action": "completed", "task_id": "t2"}),
         *[("checkpoint", {"action": "rolled_back", "checkpoint_id": f"cp{i}", "to_seq": 1}) for i in range(3)],
         ("metric", {"action": "token_usage", "model": "claude-sonnet-4", "provider": "anthropic",
                     "input_tokens": 2000, "output_tokens": 0}))
    # 0.5*0.5 + 0.3*1 + 0.2*1 = 0.75: over staging's 0.6, under dev's 0.8
    assert verdicts(green, "operations") == as_modes(PASS, REJECT, REJECT)


def test_operations_a_broken_audit_chain(green):
    from projections.audit import AuditProjection, AuditSettings
    from projections.audit.files import audit_dir
    from projections.engine import catch_up

    emit(green, *[("task", {"action": "completed", "task_id": f"t{i}"}) for i in range(5)])
    catch_up(green, AuditProjection(AuditSettings()))
    chain = audit_dir(green) / "audit.jsonl"
    lines = chain.read_bytes().splitlines(keepends=True)
    lines[2] = lines[2].replace(b'"who":"', b'"who":"mallory-', 1)
    chain.write_bytes(b"".join(lines))
    assert verdicts(green, "operations") == as_modes(PAUSE, REJECT, REJECT)


# ------------------------------------------------------------------ plan approval


def test_plan_approval_pauses_where_required_and_passes_once_granted(green):
    from commands.policy import approvals
    from commands.policy.model import ApprovalSettings, Decision, Verdict
    from eventlog import FileEventLog

    assert verdicts(green, "plan_approval") == as_modes(PASS, PAUSE, PAUSE)
    with FileEventLog(green) as log:
        approval_id, _, _ = approvals.request(log, Verdict(Decision.REQUIRE_APPROVAL, "governance", "plan", "review"),
                                              {"plan": "plan-1"}, ApprovalSettings())
        approvals.answer(log, approval_id, True, by="lead")
    assert verdicts(green, "plan_approval") == as_modes(PASS, PASS, PASS)


# ------------------------------------------------------------------ tenant scope

TENANTS = "gates:\n  security: {sources: ['*']}\n  tenant:\n    owners: {acme: ['src/*'], globex: ['s3://globex-*']}\n"


def test_tenant_a_resource_of_another_tenant_is_rejected_in_every_mode(loki):
    write(loki, "governance.yaml", TENANTS)
    write(loki, "config.yaml", "tenant: acme\n")
    emit(loki, ("session", {"action": "start"}), ("task", {"action": "started", "file_path": "src/a.py"}))
    assert verdicts(loki, "tenant") == as_modes(PASS, PASS, PASS)
    assert verdicts(loki, "tenant", resources=("s3://globex-data",)) == as_modes(REJECT, REJECT, REJECT)
    emit(loki, ("task", {"action": "started", "tenant": "globex"}))
    assert verdicts(loki, "tenant") == as_modes(REJECT, REJECT, REJECT)


def test_tenant_unowned_resources_may_be_a_concern(loki):
    write(loki, "governance.yaml", TENANTS.replace("globex-*']}", "globex-*']}\n    unowned: concern"))
    write(loki, "config.yaml", "tenant: {id: acme, name: Acme}\n")
    assert verdicts(loki, "tenant", resources=("/etc/passwd",)) == as_modes(PASS, PAUSE, PAUSE)


# ------------------------------------------------------------------ consensus

VOTERS = "gates:\n  consensus:\n    reviewers: [alice, bob, carol]\n"


def _vote(reviewer: str, verdict: str, **extra) -> tuple[str, dict]:
    return ("council", {"action": "vote", "reviewer": reviewer, "verdict": verdict, **extra})


@pytest.mark.parametrize("votes, expected", [
    ([], as_modes(PASS, PAUSE, PAUSE)),
    ([_vote("alice", "approve")], as_modes(PASS, PASS, PAUSE)),
    ([_vote("alice", "approve"), _vote("bob", "approve")], as_modes(PASS, PASS, PASS)),
    ([_vote("alice", "reject"), _vote("bob", "reject")], as_modes(PASS, PAUSE, REJECT)),  # 2 of 3 can't be reached
    ([_vote("alice", "approve"), _vote("mallory", "approve")], as_modes(PASS, PASS, PAUSE)),  # not a reviewer
    ([_vote("alice", "approve"), _vote("alice", "reject")], as_modes(PASS, PAUSE, PAUSE)),  # the last vote counts
    ([_vote("alice", "approve"), _vote("bob", "approve", plan="another-plan")], as_modes(PASS, PASS, PAUSE)),
])
def test_consensus_n_of_m(loki, votes, expected):
    write(loki, "governance.yaml", VOTERS)
    emit(loki, ("session", {"action": "start"}), *votes)
    assert verdicts(loki, "consensus") == expected


# ------------------------------------------------------------------ policy


@pytest.mark.parametrize("action, expected", [
    ("deny", as_modes(PAUSE, REJECT, REJECT)), ("require_approval", as_modes(PASS, PAUSE, PAUSE)),
])
def test_policy_gate_runs_the_policy_engine(green, action, expected):
    write(green, "policies.yaml", f"policies:\n  pre_deployment:\n    - name: need-tests\n      "
                                  f"rule: 'passed_gates must include unit-tests'\n      action: {action}\n")
    assert verdicts(green, "policy") == expected
    emit(green, ("quality", {"action": "gate", "gate": "unit-tests", "result": "pass"}))
    assert verdicts(green, "policy") == as_modes(PASS, PASS, PASS)


def test_policy_a_broken_policy_file_fails_closed(green):
    write(green, "policies.yaml", "policies: [not, a, mapping\n")
    assert verdicts(green, "policy") == as_modes(PAUSE, REJECT, REJECT)


# ------------------------------------------------------------------ budget


@pytest.mark.parametrize("on_exceed, expected", [
    ("deny", as_modes(PAUSE, REJECT, REJECT)), ("require_approval", as_modes(PASS, PAUSE, PAUSE)),
    ("warn", as_modes(PASS, PASS, PASS)),
])
def test_budget_against_the_cost_projection(green, on_exceed, expected):
    write(green, "policies.yaml", f"policies:\n  resource:\n    - name: tokens\n      max_tokens: 1000\n"
                                  f"      on_exceed: {on_exceed}\n")
    emit(green, ("metric", {"action": "token_usage", "model": "claude-sonnet-4", "provider": "anthropic",
                            "input_tokens": 900, "output_tokens": 0}))
    assert verdicts(green, "budget") == as_modes(PASS, PASS, PASS)
    emit(green, ("metric", {"action": "token_usage", "model": "claude-sonnet-4", "provider": "anthropic",
                            "input_tokens": 200, "output_tokens": 0}))
    assert verdicts(green, "budget") == expected


def test_budget_max_percent_per_mode(green):
    write(green, "governance.yaml", GREEN + "  budget:\n    max_percent: {dev: 100, staging: 100, prod: 80}\n")
    write(green, "policies.yaml", "policies:\n  resource:\n    - name: tokens\n      max_tokens: 1000\n      on_exceed: deny\n")
    emit(green, ("metric", {"action": "token_usage", "model": "m", "provider": "anthropic", "input_tokens": 900,
                            "output_tokens": 0}))
    assert verdicts(green, "budget") == as_modes(PASS, PASS, REJECT)


# ------------------------------------------------------------------ residency


def test_residency_a_provider_not_allowed_is_rejected_in_every_mode(green):
    write(green, "residency.json", '{"allowed_providers": ["anthropic"], "allowed_regions": ["eu-west-1"]}')
    emit(green, ("metric", {"action": "token_usage", "provider": "anthropic", "region": "eu-west-1", "model": "m"}))
    assert verdicts(green, "residency") == as_modes(PASS, PASS, PASS)
    emit(green, ("metric", {"action": "token_usage", "provider": "openai", "region": "us-east-1", "model": "m"}))
    assert verdicts(green, "residency") == as_modes(REJECT, REJECT, REJECT)


def test_residency_unreadable_rules_fail_closed(green):
    write(green, "residency.json", "{broken")
    assert verdicts(green, "residency") == as_modes(REJECT, REJECT, REJECT)


# ------------------------------------------------------------------ disabling and per-gate strictness


def test_a_disabled_gate_passes_and_says_so(loki):
    write(loki, "governance.yaml", "gates:\n  quality:\n    enabled: false\n")
    emit(loki, ("quality", {"action": "gate", "gate": "unit-tests", "result": "fail"}))
    assert verdicts(loki, "quality") == as_modes(PASS, PASS, PASS)


def test_a_gate_can_be_stricter_than_its_mode(green):
    write(green, "governance.yaml", GREEN + "    on_violation: reject\n")
    emit(green, ("quality", {"action": "gate", "gate": "unit-tests", "result": "fail"}))
    assert verdicts(green, "quality") == as_modes(REJECT, REJECT, REJECT)

"""Invariants of the gate evaluation, over generated inputs (pure: no files), and of its configuration."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from commands.governance.config import GovernanceConfigError, build
from commands.governance.evaluate import evaluate, outcome
from commands.governance.facts import Facts, QualityResult, Vote
from commands.governance.inputs import AuditCheck, BudgetUse, Caller, Inputs
from commands.governance.model import GATES, MODES, Verdict
from commands.governance.overrides import apply

REVIEWERS = ["alice", "bob", "carol"]
CONFIG = build({"gates": {"consensus": {"reviewers": REVIEWERS},
                          "tenant": {"owners": {"acme": ["a/*"], "globex": ["g/*"]}, "unowned": "concern"}}})


@st.composite
def inputs(draw) -> Inputs:
    facts = Facts(head_seq=1000)
    for seq, name in enumerate(draw(st.lists(st.sampled_from(["coverage", "lint", "unit-tests"]), max_size=3)), 1):
        facts.quality[name] = QualityResult(name, draw(st.sampled_from(["pass", "fail"])), seq,
                                            draw(st.none() | st.floats(0, 100)))
    for seq, ok in enumerate(draw(st.lists(st.booleans(), max_size=20)), 100):
        facts.outcomes.append((seq, ok))
    facts.rollbacks.extend(range(200, 200 + draw(st.integers(0, 4))))
    for seq, reviewer in enumerate(draw(st.lists(st.sampled_from(REVIEWERS + ["mallory"]), max_size=5)), 300):
        facts.votes[(None, reviewer)] = Vote(reviewer, draw(st.booleans()), seq)
    for seq, resource in enumerate(draw(st.lists(st.sampled_from(["a/x", "g/y", "z"]), max_size=3)), 400):
        facts.resources[resource] = [seq]
    caller = draw(st.sampled_from([Caller("cli"), Caller("hook"), Caller("cli", "t1", "operator", ("control", "read")),
                                   Caller("cli", "t2", "viewer", ("read",)), Caller("cli", error="unknown token")]))
    budgets = tuple(BudgetUse(f"b{i}", "tokens", "total", p, draw(st.sampled_from(["deny", "require_approval", "warn"])))
                    for i, p in enumerate(draw(st.lists(st.floats(0, 200), max_size=2))))
    audit = AuditCheck("chain", valid=draw(st.booleans()), error="broken")
    return Inputs("gr-x", "plan", facts, caller, tenant="acme", audit=audit, budgets=budgets)


@settings(max_examples=200, deadline=None)
@given(inputs(), st.frozensets(st.sampled_from(GATES)))
def test_strictness_is_monotone_across_modes(given_inputs, flaky):
    by_mode = {m: {r.gate: r.verdict for r in evaluate(CONFIG, given_inputs, m, flaky=flaky)} for m in MODES}
    for gate in GATES:
        ranks = [by_mode[m][gate].rank for m in MODES]
        assert ranks == sorted(ranks), (gate, {m: by_mode[m][gate] for m in MODES})
    overall = [outcome([r for r in evaluate(CONFIG, given_inputs, m, flaky=flaky)]).rank for m in MODES]
    assert overall == sorted(overall)


@settings(max_examples=200, deadline=None)
@given(inputs(), st.sampled_from(MODES))
def test_any_reject_rejects_the_run_and_order_does_not_change_the_verdict(given_inputs, mode):
    results = evaluate(CONFIG, given_inputs, mode)
    verdict = outcome(results)
    assert (verdict is Verdict.REJECT) == any(r.verdict is Verdict.REJECT for r in results)
    assert (verdict is Verdict.PASS) == all(r.verdict is Verdict.PASS for r in results)
    reordered = build({**CONFIG.raw, "modes": {mode: {"order": list(reversed(GATES))}}})
    assert outcome(evaluate(reordered, given_inputs, mode)) is verdict


@settings(max_examples=100, deadline=None)
@given(inputs(), st.sampled_from(MODES), st.frozensets(st.sampled_from(GATES)))
def test_an_approval_only_turns_a_pause_into_a_pass(given_inputs, mode, approved):
    plain = {r.gate: r.verdict for r in evaluate(CONFIG, given_inputs, mode)}
    granted = {r.gate: r.verdict for r in evaluate(CONFIG, given_inputs, mode, approved=dict.fromkeys(approved, "x"))}
    for gate in GATES:
        expected = Verdict.PASS if gate in approved and plain[gate] is Verdict.PAUSE else plain[gate]
        assert granted[gate] is expected


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.sampled_from(MODES), st.integers(0, 100), min_size=1))
def test_the_loader_refuses_every_non_monotone_floor(floors):
    doc = {"gates": {"quality": {"min_coverage": floors}}}
    resolved = [floors.get(m, 80) for m in MODES]
    if resolved == sorted(resolved):
        assert [build(doc).settings[m]["quality"]["min_coverage"] for m in MODES] == resolved
    else:
        with pytest.raises(GovernanceConfigError, match="min_coverage is more lenient in a stricter mode"):
            build(doc)


@pytest.mark.parametrize("doc, message", [
    ({"gates": {"qualty": {}}}, "unknown key.*qualty"),
    ({"gates": {"quality": {"min_coverage": 120}}}, "min_coverage must be a percentage"),
    ({"gates": {"security": {"sources": {"dev": ["cli", "runner"], "prod": ["hook"]}}}}, "prod allows sources staging does not"),
    ({"gates": {"security": {"roles": {"operator": ["prod"]}}}}, "must be allowed in every more lenient mode"),
    ({"modes": {"dev": {"on_violation": "reject"}, "staging": {"on_violation": "pause"}}}, "on_violation of gate"),
    ({"modes": {"prod": {"order": ["quality", "quality"]}}}, "distinct gates"),
    ({"gates": {"consensus": {"reviewers": ["a"], "required": 2}}}, "more votes than there are reviewers"),
    ({"approvals": {"timeout_seconds": 0}}, "timeout_seconds must be a positive number"),
    ({"mode": "production"}, "mode must be one of dev, staging, prod"),
])
def test_bad_configurations_are_refused_naming_the_key(doc, message):
    with pytest.raises(GovernanceConfigError, match=message):
        build(doc)


def test_the_order_puts_named_gates_first_and_keeps_every_gate():
    config = build({"modes": {"prod": {"order": ["budget", "security"]}}})
    assert config.order["prod"][:2] == ("budget", "security") and sorted(config.order["prod"]) == sorted(GATES)


def test_an_override_may_set_a_value_per_mode():
    learned = apply({}, {"overrides": [{"gate": "operations", "key": "max_risk", "value": {"prod": 0.2},
                                        "suggestion_id": "e"}]})
    assert [learned.config.settings[m]["operations"]["max_risk"] for m in MODES] == [0.8, 0.6, 0.2]

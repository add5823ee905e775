"""The gate: every decision is recorded with its rule; approvals are requested, answered and expired."""
from __future__ import annotations

import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import msgspec
import pytest

from commands.policy import approvals
from commands.policy.approvals import ApprovalAlreadyDecidedError, ApprovalNotFoundError
from commands.policy.gate import ApprovalRequiredError, PolicyDeniedError, PolicyGate
from eventlog import FileEventLog, MemoryEventLog
from projections.approvals import ApprovalsProjection
from projections.base import Projection, project
from projections.registry import all_projections

REFERENCE = Path(__file__).parent / "fixtures" / "policies" / "reference.yaml"


@pytest.fixture
def gate(loki):
    loki.mkdir(parents=True)
    shutil.copyfile(REFERENCE, loki / "policies.yaml")
    with PolicyGate(loki, source="runner") as opened:
        yield opened


def _events(loki: Path):
    with FileEventLog(loki) as log:
        return list(log.read())


def test_every_decision_is_recorded_with_the_rule_that_decided(gate, loki, tmp_path):
    allowed = gate.check("pre_execution", {"file_path": "a.py", "project_dir": str(tmp_path), "active_agents": 1})
    denied = gate.check("pre_execution", {"file_path": "/etc/passwd", "project_dir": str(tmp_path), "active_agents": 1})
    assert allowed.allowed and not denied.allowed
    first, second = _events(loki)
    assert (first.type, first.action, first.source, first.payload["decision"], first.payload["rule"]) == \
        ("policy", "decision", "runner", "allow", None)
    assert (second.payload["decision"], second.payload["rule"]) == ("deny", "project-boundary")
    assert second.payload["policy"]["digest"] == gate.store.state.policy.digest
    assert second.payload["context"]["resolved"]["file_path"] == "/etc/passwd"
    assert second.id == denied.event_id and second.seq == denied.seq


def test_scanned_content_and_secrets_never_reach_the_log(gate, loki):
    content = "deploy with AKIAIOSFODNN7EXAMPLE and mail ops@example.com"
    result = gate.check("data", {"content": content, "note": "token=ghp_" + "b" * 36})
    assert result.verdict.rule == "secret-scan"
    raw = b"".join(p.read_bytes() for p in (loki / "events" / "log").glob("*.jsonl"))
    assert b"AKIAIOSFODNN7EXAMPLE" not in raw and b"ops@example.com" not in raw and b"ghp_" not in raw
    (event,) = _events(loki)
    assert event.payload["context"] == {"note": "token=[REDACTED:github_token]", "content_length": len(content)}
    assert event.payload["findings"][0]["detector"] == "aws_access_key"


def test_require_approval_opens_an_approval_caused_by_the_decision(gate, loki, tmp_path):
    result = gate.check("pre_execution", {"file_path": "a.py", "project_dir": str(tmp_path), "active_agents": 9})
    assert result.verdict.decision.value == "require_approval" and result.approval_id.startswith("apr-")
    decision, requested = _events(loki)
    assert (requested.type, requested.action, requested.stream) == ("approval", "requested", f"approval-{result.approval_id}")
    assert requested.causation_id == decision.id
    assert requested.payload["rule"] == "agent-limit" and requested.payload["on_timeout"] == "deny"
    pending = approvals.approvals(gate.log).pending()
    assert [a.approval_id for a in pending] == [result.approval_id]


def test_enforce_raises_for_deny_and_for_approval(gate, tmp_path):
    with pytest.raises(PolicyDeniedError, match="policy project-boundary denied pre_execution"):
        gate.enforce("pre_execution", {"file_path": "/x", "project_dir": str(tmp_path), "active_agents": 1})
    with pytest.raises(ApprovalRequiredError, match=r"lokilog approve apr-"):
        gate.enforce("pre_execution", {"file_path": "a", "project_dir": str(tmp_path), "active_agents": 6})
    assert gate.enforce("resource", {"provider": "claude", "tokens_consumed": 1}).allowed


def test_a_broken_policy_denies_and_the_decision_says_why(loki):
    loki.mkdir(parents=True)
    (loki / "policies.yaml").write_text("policies: {data: [{name: x, type: nope}]}\n")
    with PolicyGate(loki) as gate:
        result = gate.check("data", {"content": "hello"})
    failed, event = _events(loki)  # the load error is recorded first, then the decision
    assert failed.payload["action"] == "load_failed" and "unknown type 'nope'" in failed.payload["error"]
    assert result.verdict.rule == "policy-unavailable" and event.payload["decision"] == "deny"
    assert "unknown type 'nope'" in event.payload["policy_error"]


# ------------------------------------------------------------------------------ approvals

def _request(log, now=None, timeout=60.0, on_timeout="deny"):
    from commands.policy.model import ApprovalSettings, Decision, Verdict

    verdict = Verdict(Decision.REQUIRE_APPROVAL, "resource", "token-budget", "over budget")
    return approvals.request(log, verdict, {"provider": "claude"}, ApprovalSettings(timeout, on_timeout), now=now)[0]


def test_an_approval_is_answered_once():
    log = MemoryEventLog()
    approval_id = _request(log)
    approvals.answer(log, approval_id, True, by="alice", reason="fine")
    with pytest.raises(ApprovalAlreadyDecidedError, match=f"approval {approval_id} was already granted by alice"):
        approvals.answer(log, approval_id, False, by="bob", reason="no")
    with pytest.raises(ApprovalNotFoundError, match="no approval 'apr-nope'"):
        approvals.answer(log, "apr-nope", True, by="x")
    state = approvals.approvals(log).approvals[approval_id]
    assert (state.status, state.decided_by, state.decision_reason, state.auto) == ("granted", "alice", "fine", False)


def test_the_expected_version_stops_a_second_answer_that_skips_the_check():
    log = MemoryEventLog()
    approval_id = _request(log)
    approvals.answer(log, approval_id, False, by="alice", reason="no")
    stale = msgspec.structs.replace(approvals.approvals(log).approvals[approval_id], status="pending")
    with pytest.raises(ApprovalAlreadyDecidedError, match="already denied"):
        approvals._answer(log, stale, True, by="bob", reason=None, source="cli", auto=False)


@pytest.mark.parametrize("on_timeout, status", [("deny", "denied"), ("approve", "granted")])
def test_timeouts_answer_automatically(on_timeout, status):
    log = MemoryEventLog()
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    approval_id = _request(log, now=start, timeout=30, on_timeout=on_timeout)
    assert approvals.expire_due(log, start + timedelta(seconds=29)) == []
    (expired,) = approvals.expire_due(log, start + timedelta(seconds=30))
    assert expired.approval_id == approval_id
    state = approvals.approvals(log).approvals[approval_id]
    assert (state.status, state.decided_by, state.auto) == (status, "timeout", True)
    with pytest.raises(ApprovalAlreadyDecidedError, match=f"already {status} by timeout"):
        approvals.answer(log, approval_id, True, by="late", now=start + timedelta(seconds=31))


def test_wait_for_returns_the_answer_or_gives_up_in_time():
    log = MemoryEventLog()
    old = _request(log, now=datetime(2020, 1, 1, tzinfo=timezone.utc), timeout=1)
    assert approvals.wait_for(log, old, timeout=5).status == "denied"
    fresh = _request(log)
    assert approvals.wait_for(log, fresh, timeout=0.2, poll=0.05).status == "pending"


def test_pending_approvals_survive_a_restart(loki):
    with FileEventLog(loki) as log:
        approval_id = _request(log)
    with FileEventLog(loki) as log:
        assert [a.approval_id for a in approvals.approvals(log).pending()] == [approval_id]


def test_the_projection_is_registered_and_its_view_is_deterministic(loki):
    projection = next(p for p in all_projections() if p.name == "approvals")
    assert isinstance(projection, Projection) and isinstance(projection, ApprovalsProjection)
    log = MemoryEventLog()
    first, second = _request(log), _request(log)
    approvals.answer(log, first, True, by="alice")
    state = project(projection, log.read())
    projection.write_views(state, loki)
    view = (loki / "state" / "approvals.json").read_bytes()
    projection.write_views(project(projection, log.read()), loki)
    assert (loki / "state" / "approvals.json").read_bytes() == view
    assert [a["approval_id"] for a in msgspec.json.decode(view)["pending"]] == [second]
    # Incremental equals full: folding a prefix then the rest gives the same state.
    events = list(log.read())
    assert project(projection, events[2:], project(projection, events[:2])) == state


def test_foreign_or_malformed_approval_events_are_ignored_or_first_answer_wins():
    log = MemoryEventLog()
    approval_id = _request(log)
    log.append("approval", "hook", {"action": "granted"})
    log.append("approval", "hook", {"action": "denied", "approval_id": approval_id, "by": "first"})
    log.append("approval", "hook", {"action": "granted", "approval_id": approval_id, "by": "second"})
    log.append("approval", "hook", {"action": "granted", "approval_id": "apr-unknown"})
    state = approvals.approvals(log)
    assert list(state.approvals) == [approval_id]
    assert (state.approvals[approval_id].status, state.approvals[approval_id].decided_by) == ("denied", "first")

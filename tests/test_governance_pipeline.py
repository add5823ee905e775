"""The pipeline end to end: recorded evaluations, pause -> approve -> continue, timeouts, denials,
learned overrides, and `lokilog gates` as a real process."""
from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from commands.governance.config import GovernanceConfigError
from commands.governance.model import GATES
from commands.governance.pipeline import GateRunError, resume_gates, run_gates
from commands.policy import approvals
from conftest import run_lokilog, subprocess_env
from eventlog import FileEventLog, SequenceConflictError
from governance_helpers import GREEN, applied, emit, write


@pytest.fixture
def green(loki):
    write(loki, "governance.yaml", GREEN)
    emit(loki, ("session", {"action": "start", "session_id": "s1"}),
         ("quality", {"action": "gate", "gate": "coverage", "result": "pass", "coverage": 82}))
    return loki


def _governance(log):
    return [e for e in log.read(types=["governance"])]


def test_every_evaluation_is_recorded_with_its_inputs(green):
    with FileEventLog(green) as log:
        outcome = run_gates(log, green, mode="dev")
        events = _governance(log)
        head = log.head_seq
        assert outcome.status == "passed"
        actions = [e.payload["action"] for e in events]
        assert actions == ["run_started"] + ["gate_evaluated"] * len(GATES) + ["passed"]
        evaluated = [e.payload for e in events if e.payload["action"] == "gate_evaluated"]
        assert {p["gate"] for p in evaluated} == set(GATES)
        for payload in evaluated:
            assert payload["verdict"] in ("PASS", "PAUSE", "REJECT") and payload["mode"] == "dev"
            assert payload["reasons"] and all(isinstance(r, str) for r in payload["reasons"])
            assert all(isinstance(s, int) and 0 < s <= payload["head_seq"] <= head for s in payload["inputs"])
        quality = next(p for p in evaluated if p["gate"] == "quality")
        coverage_seq = next(e.seq for e in log.read(types=["quality"]))
        assert coverage_seq in quality["inputs"]
        assert {e.stream for e in events} == {f"governance-{outcome.run_id}"}
        assert [e.payload["gate"] for e in events[1:-1]] == list(outcome.results and [r.gate for r in outcome.results])


def test_any_reject_rejects_the_run_with_every_rejecting_gate(green):
    emit(green, ("quality", {"action": "gate", "gate": "lint", "result": "fail"}),
         ("metric", {"action": "token_usage", "provider": "openai", "model": "m"}))
    write(green, "residency.json", '{"allowed_providers": ["anthropic"]}')
    with FileEventLog(green) as log:
        outcome = run_gates(log, green, mode="staging")
        last = _governance(log)[-1].payload
    assert outcome.status == "rejected"
    assert last["action"] == "rejected" and sorted(last["gates"]) == ["quality", "residency"]
    assert any(r.startswith("residency: openai") for r in last["reasons"])
    assert not [e for e in approvals.approvals(FileEventLog(green)).approvals.values()]  # no approval was opened


def test_pause_approve_continue(green):
    with FileEventLog(green) as log:
        paused = run_gates(log, green, mode="prod", plan="release-2")
        assert (paused.status, paused.paused_gate) == ("paused", "plan_approval")
        requested = approvals.approvals(log).approvals[paused.approval_id]
        assert requested.context == {"run_id": paused.run_id, "gate": "plan_approval", "mode": "prod", "plan": "release-2"}
        again = resume_gates(log, green, paused.run_id)  # not answered yet: still paused, nothing re-evaluated
        assert again.status == "paused"
        approvals.answer(log, paused.approval_id, True, by="lead")
        done = resume_gates(log, green, paused.run_id)
        actions = [e.payload["action"] for e in _governance(log)]
    assert done.status == "passed"
    assert actions == (["run_started"] + ["gate_evaluated"] * 9 + ["paused", "resumed"] + ["gate_evaluated"] * 9
                       + ["passed"])
    plan = next(r for r in done.results if r.gate == "plan_approval")
    assert plan.verdict.value == "PASS" and "approved by lead" in plan.reasons[0]


def test_an_approved_plan_carries_over_to_the_next_run_of_that_plan(green):
    with FileEventLog(green) as log:
        paused = run_gates(log, green, mode="prod", plan="release-3")
        approvals.answer(log, paused.approval_id, True, by="lead")
        assert resume_gates(log, green, paused.run_id).status == "passed"
        assert run_gates(log, green, mode="prod", plan="release-3").status == "passed"
        assert run_gates(log, green, mode="prod", plan="release-4").status == "paused"


def test_pause_denied_rejects(green):
    with FileEventLog(green) as log:
        paused = run_gates(log, green, mode="staging")
        approvals.answer(log, paused.approval_id, False, by="lead", reason="not now")
        done = resume_gates(log, green, paused.run_id)
        with pytest.raises(GateRunError, match="is over: it rejected"):
            resume_gates(log, green, paused.run_id)
    assert done.status == "rejected" and done.reasons == [f"plan_approval: approval {paused.approval_id} denied by lead"]


def test_pause_times_out_into_reject(green):
    write(green, "governance.yaml", GREEN + "approvals:\n  timeout_seconds: 0.3\n")
    with FileEventLog(green) as log:
        started = time.monotonic()
        done = run_gates(log, green, mode="prod", wait=10)
        elapsed = time.monotonic() - started
        approval = approvals.approvals(log).approvals[done.approval_id]
    assert done.status == "rejected" and "timed out" in done.reasons[0]
    assert approval.status == "denied" and approval.auto and elapsed < 10


def test_wait_shorter_than_the_approval_timeout_leaves_the_run_paused(green):
    with FileEventLog(green) as log:
        done = run_gates(log, green, mode="prod", wait=0.3)
    assert done.status == "paused"


def test_two_resumers_cannot_both_carry_a_run_on(green):
    with FileEventLog(green) as log, FileEventLog(green) as other:
        paused = run_gates(log, green, mode="prod")
        approvals.answer(log, paused.approval_id, True, by="lead")
        from commands.governance.pipeline import _Run

        stale = _Run(other, green, paused.run_id, "prod", paused.run_id, "cli", version=1)  # saw only run_started
        assert resume_gates(log, green, paused.run_id).status == "passed"
        with pytest.raises(SequenceConflictError):
            stale.record("passed", {})


# ------------------------------------------------------------------ learned overrides


def test_an_override_replaces_the_setting(green):
    with FileEventLog(green) as log:
        assert run_gates(log, green, mode="staging").results  # coverage 82 >= 80
        applied(green, {"overrides": [{"gate": "quality", "key": "min_coverage", "value": 85, "suggestion_id": "e1"}],
                        "flaky_gates": []})
        outcome = run_gates(log, green, mode="staging")
        started = [e.payload for e in _governance(log) if e.payload["action"] == "run_started"][-1]
    quality = next(r for r in outcome.results if r.gate == "quality")
    assert quality.verdict.value == "REJECT" and "82% < 85%" in quality.reasons[0]
    assert started["overrides"] == [{"gate": "quality", "key": "min_coverage", "value": 85, "suggestion_id": "e1"}]


def test_a_flaky_gate_pauses_instead_of_rejecting_except_in_prod(green):
    emit(green, ("quality", {"action": "gate", "gate": "unit-tests", "result": "fail"}))
    applied(green, {"overrides": [], "flaky_gates": ["quality", "security"]})
    with FileEventLog(green) as log:
        staging = run_gates(log, green, mode="staging")
        prod = run_gates(log, green, mode="prod")
    quality = next(r for r in staging.results if r.gate == "quality")
    assert (staging.status, staging.paused_gate) == ("paused", "quality")  # quality comes before plan approval
    assert quality.verdict.value == "PAUSE" and quality.downgraded == "flaky"
    assert prod.status == "rejected" and "quality" in prod.reasons[0]


def test_overrides_that_would_break_the_configuration_are_left_out_and_recorded(green):
    applied(green, {"overrides": [
        {"gate": "quality", "key": "enabled", "value": False, "suggestion_id": "e1"},
        {"gate": "quality", "key": "min_coverage", "value": "high", "suggestion_id": "e2"},
        {"gate": "operations", "key": "max_risk", "value": {"dev": 0.1, "prod": 0.9}, "suggestion_id": "e3"},
        {"gate": "nope", "key": "x", "value": 1, "suggestion_id": "e4"},
        {"gate": "quality", "key": "max_lint_errors", "value": 2, "suggestion_id": "e5"},
    ], "flaky_gates": ["nope"]})
    with FileEventLog(green) as log:
        outcome = run_gates(log, green, mode="dev")
        started = [e.payload for e in _governance(log) if e.payload["action"] == "run_started"][-1]
    assert [o["suggestion_id"] for o in started["overrides"]] == ["e5"]
    assert len(started["ignored_overrides"]) == 5 and len(outcome.ignored_overrides) == 5
    reasons = " | ".join(i["reason"] for i in started["ignored_overrides"])
    assert "no setting 'enabled'" in reasons and "more lenient in a stricter mode" in reasons


def test_a_missing_overrides_file_is_no_overrides_and_a_broken_one_an_error(green):
    with FileEventLog(green) as log:
        assert run_gates(log, green, mode="dev").status == "passed"
        (green / "state" / "outcomes").mkdir(parents=True)
        (green / "state" / "outcomes" / "applied.json").write_text("{not json")
        with pytest.raises(GovernanceConfigError, match="applied.json: not valid JSON"):
            run_gates(log, green, mode="dev")


# ------------------------------------------------------------------ the command line


def test_gates_run_and_status_as_real_processes(green):
    result = run_lokilog("gates", "run", "--mode", "prod", "--json", loki=green)
    assert result.returncode == 3, result.stderr
    paused = json.loads(result.stdout)
    assert paused["status"] == "paused" and paused["paused_gate"] == "plan_approval"
    assert run_lokilog("approve", paused["approval_id"], loki=green).returncode == 0
    resumed = run_lokilog("gates", "run", "--resume", paused["run_id"], loki=green)
    assert resumed.returncode == 0 and "PASSED" in resumed.stdout, resumed.stdout + resumed.stderr
    status = json.loads(run_lokilog("gates", "status", "--json", loki=green).stdout)
    assert status["runs"][-1]["status"] == "passed" and status["runs"][-1]["approved"] == {"plan_approval": "cli"}


def test_gates_run_waits_for_an_approval_given_by_another_process(green):
    child = subprocess.Popen([sys.executable, "-m", "commands", "gates", "run", "--mode", "prod", "--wait", "60", "--json"],
                             env=subprocess_env(LOKI_DIR=str(green)), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    try:
        deadline = time.monotonic() + 30
        pending = []
        while not pending and time.monotonic() < deadline:
            time.sleep(0.1)
            with FileEventLog(green) as log:
                pending = approvals.approvals(log).pending()
        assert pending, "the child never opened an approval"
        assert run_lokilog("approve", pending[0].approval_id, loki=green).returncode == 0
        out, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert child.returncode == 0, err
    assert json.loads(out)["status"] == "passed"


def test_gates_run_rejects_with_exit_1_and_bad_input_with_exit_2(green):
    emit(green, ("quality", {"action": "gate", "gate": "lint", "result": "fail"}))
    rejected = run_lokilog("gates", "run", "--mode", "staging", loki=green)
    assert rejected.returncode == 1 and "REJECTED" in rejected.stdout and "quality: quality gate lint failed" in rejected.stdout
    bad = run_lokilog("gates", "run", "--mode", "production", loki=green)
    assert bad.returncode == 2 and bad.stderr.strip().startswith("lokilog: error: --mode:")
    write(green, "governance.yaml", "gates:\n  quality:\n    min_coverage: {dev: 90, prod: 50}\n")
    refused = run_lokilog("gates", "run", loki=green)
    assert refused.returncode == 2 and "more lenient in a stricter mode" in refused.stderr
    unknown = run_lokilog("gates", "run", "--resume", "gr-nope", loki=green)
    assert unknown.returncode == 2 and "no gate run 'gr-nope'" in unknown.stderr


def test_the_demo_passes_dev_pauses_prod_for_plan_approval_and_carries_on(tmp_path):
    from typer.testing import CliRunner

    from commands.cli import app
    from projections.audit.trail import read_entries

    result = CliRunner().invoke(app, ["demo", str(tmp_path / "demo")], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "dev:  PASSED (9 PASS)" in result.output
    assert "prod: PAUSED at plan_approval (8 PASS, 1 PAUSE)" in result.output
    assert "approved by release-manager -> prod: PASSED (9 PASS)" in result.output
    loki = tmp_path / "demo" / "gated" / ".loki"  # a copy: the demo's own log stays as the other sections expect
    with FileEventLog(tmp_path / "demo" / ".loki") as log:
        assert not list(log.read(types=["governance"]))
    with FileEventLog(loki) as log:
        kinds = [f"{e.type}.{e.payload.get('action')}" for e in log.read(types=["governance", "approval"])]
    assert kinds.count("governance.passed") == 2 and "approval.granted" in kinds and "governance.resumed" in kinds
    audited = {f"{e.what}" for e in read_entries(loki)}
    assert {"governance.gate_evaluated", "governance.paused", "governance.resumed", "approval.granted"} <= audited


def test_gates_status_text(green, cli):
    assert cli("gates", "status").stdout.startswith("no gate runs yet")
    paused = json.loads(cli("gates", "run", "--mode", "prod", "--json").stdout)
    shown = cli("gates", "status").stdout
    assert paused["run_id"] in shown and "PAUSED" in shown and f"plan_approval waits for approval {paused['approval_id']}" in shown
    bad = cli("gates", "run", "--resume", paused["run_id"], "--mode", "dev")
    assert bad.exit_code == 2 and "leave out --mode and --plan" in bad.stderr


def test_doctor_reports_a_governance_file_that_stops_every_gate_run(green, cli):
    doctor = json.loads(cli("doctor", "--json").stdout)["sections"]
    assert doctor["governance"]["status"] == "ok" and doctor["governance"]["mode"] == "dev"
    write(green, "governance.yaml", "gates:\n  quality:\n    min_coverage: 200\n")
    doctor = json.loads(cli("doctor", "--json").stdout)["sections"]
    assert doctor["governance"]["status"] == "problem"
    assert "min_coverage must be a percentage 0-100 (or one per mode), not 200" in doctor["governance"]["error"]

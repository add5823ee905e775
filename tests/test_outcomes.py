"""The outcomes projection and the learning loop, from generated histories."""
from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from commands.learning import apply_granted, outcomes, suggest
from commands.policy.approvals import answer
from eventlog import Event, FileEventLog
from projections.base import project
from projections.outcomes import OutcomesProjection
from projections.outcomes.rules import (
    COVERAGE_BASE, COVERAGE_CAP, COVERAGE_STEP, ESCAPE_MIN_RATE, ESCAPE_MIN_RUNS, FLAKY_MIN_FLIPS, FLAKY_MIN_RATIO,
    due_suggestions,
)
from projections.outcomes.state import FAILURE, PARTIAL, SUCCESS, classify_run

GATES = ("quality", "security", "budget")


def test_run_classification():
    assert classify_run(3, 0, "completed") == SUCCESS
    assert classify_run(0, 0, "completed") == SUCCESS
    assert classify_run(0, 2, "completed") == FAILURE
    assert classify_run(0, 0, "failed") == FAILURE
    assert classify_run(2, 1, "completed") == PARTIAL
    assert classify_run(2, 0, "failed") == PARTIAL


# A run: its gate evaluations (gate, verdict) and its tasks' outcomes, ending with a status.
_runs = st.lists(st.tuples(
    st.lists(st.tuples(st.sampled_from(GATES), st.sampled_from(["PASS", "REJECT", "PAUSE"])), max_size=6),
    st.lists(st.sampled_from(["completed", "failed", "retried"]), max_size=4),
    st.sampled_from(["completed", "failed"]),
    st.sampled_from(["dev", "prod"]),
), max_size=12)


def history(runs) -> list[dict]:
    drafts = []
    for n, (gates, tasks, status, mode) in enumerate(runs):
        session = f"s{n}"
        drafts.append({"type": "session", "payload": {"action": "start", "session_id": session}})
        for gate, verdict in gates:
            drafts.append({"type": "governance", "payload": {"action": "gate_evaluated", "gate": gate, "verdict": verdict,
                                                             "mode": mode, "reasons": []}})
        for i, outcome in enumerate(tasks):
            task = f"{session}-t{i}"
            drafts.append({"type": "metric", "payload": {"action": "token_usage", "task_id": task, "model": "m",
                                                         "input_tokens": 10, "output_tokens": 5}})
            if outcome == "retried":
                drafts.append({"type": "healing", "payload": {"action": "retry", "task_id": task}})
                outcome = "completed"
            drafts.append({"type": "task", "payload": {"action": outcome, "task_id": task}})
        drafts.append({"type": "session", "payload": {"action": "end", "session_id": session, "status": status}})
    return drafts


def as_events(drafts: list[dict]) -> list[Event]:
    return [Event(seq=i, id=f"e{i}", type=d["type"], source="runner", timestamp="2026-01-01T00:00:00.000Z",
                  version="1.0", payload=d["payload"]) for i, d in enumerate(drafts, 1)]


def fold(events) -> object:
    return project(OutcomesProjection(), events)


@settings(max_examples=150, deadline=None)
@given(_runs, st.integers(0, 200))
def test_the_fold_resumes_from_any_point_and_counts_every_run_once(runs, cut):
    events = as_events(history(runs))
    whole = fold(events)
    state = msgspec.json.decode(msgspec.json.encode(fold(events[:cut])), type=OutcomesProjection.state_type)
    assert msgspec.json.encode(project(OutcomesProjection(), events[cut:], state)) == msgspec.json.encode(whole)
    assert sum(whole.outcomes.values()) == len(runs)
    evaluated = sum(t["evaluated"] for modes in whole.gates.values() for t in modes.values())
    assert evaluated == sum(len(gates) for gates, *_ in runs)
    completed = sum(1 for _, tasks, *_ in runs for t in tasks if t != "failed")
    assert whole.success["tasks"] == completed and whole.success["tokens"] == 15 * completed
    assert whole.retries["succeeded"] == whole.retries["episodes"] == sum(t.count("retried") for _, t, *_ in runs)


@settings(max_examples=150, deadline=None)
@given(_runs)
def test_a_suggestion_is_due_exactly_when_its_documented_rule_holds(runs):
    state = fold(as_events(history(runs)))
    due = {(s["kind"], s["gate"]): s for s in due_suggestions(state)}
    for gate, flips in state.flips.items():
        expect = flips["flips"] >= FLAKY_MIN_FLIPS and flips["flips"] >= FLAKY_MIN_RATIO * flips["rejects"]
        assert (("mark_flaky", gate) in due) == expect
    tally = state.escapes.get("quality", {"runs": 0, "escaped": 0})
    expect = tally["runs"] >= ESCAPE_MIN_RUNS and tally["escaped"] >= ESCAPE_MIN_RATE * tally["runs"]
    assert (("raise_threshold", "quality") in due) == expect
    if expect:
        assert due[("raise_threshold", "quality")]["value"] == min(COVERAGE_CAP, COVERAGE_BASE + COVERAGE_STEP)
    assert all(gate == "quality" for kind, gate in due if kind == "raise_threshold")


def flaky_and_escaping(loki: Path, runs: int = 6, first: int = 0) -> None:
    """Runs in which the quality gate flips REJECT -> PASS and half the runs still fail."""
    with FileEventLog(loki) as log:
        for n in range(first, first + runs):
            log.append("session", "runner", {"action": "start", "session_id": f"s{n}"})
            for verdict in ("REJECT", "PASS"):
                log.append("governance", "gates", {"action": "gate_evaluated", "gate": "quality", "verdict": verdict,
                                                   "mode": "prod", "reasons": []})
            log.append("task", "runner", {"action": "completed" if n % 2 else "failed", "task_id": f"t{n}"})
            log.append("session", "runner", {"action": "end", "session_id": f"s{n}", "status": "completed"})


def applied_view(loki: Path) -> dict:
    return json.loads((loki / "state" / "outcomes" / "applied.json").read_text())


def test_suggestions_are_made_once_and_apply_only_through_a_granted_approval(loki: Path):
    flaky_and_escaping(loki)
    made = suggest(loki)
    assert sorted(s["kind"] for s in made) == ["mark_flaky", "raise_threshold"]
    assert suggest(loki) == [] and apply_granted(loki) == []
    assert applied_view(loki) == {"overrides": [], "flaky_gates": []}
    by_kind = {s["kind"]: s for s in made}
    with FileEventLog(loki) as log:
        answer(log, by_kind["raise_threshold"]["approval_id"], True, by="alice")
        answer(log, by_kind["mark_flaky"]["approval_id"], False, by="alice")
        # an applied event nobody approved (a forged or early one) is ignored
        log.append("governance", "cli", {"action": "suggestion_applied", "suggestion_id": by_kind["mark_flaky"]["id"]})
    assert [s["kind"] for s in apply_granted(loki)] == ["raise_threshold"]
    assert apply_granted(loki) == []
    assert applied_view(loki) == {"overrides": [{"gate": "quality", "key": "min_coverage", "value": 85,
                                                 "suggestion_id": by_kind["raise_threshold"]["id"]}],
                                  "flaky_gates": []}
    assert suggest(loki) == []  # the threshold's evidence starts afresh after it was applied
    flaky_and_escaping(loki, first=6)
    assert [(s["kind"], s["value"]) for s in suggest(loki)] == [("raise_threshold", 90)]


def test_the_view_survives_a_rebuild_byte_for_byte(loki: Path):
    from projections.engine import rebuild

    flaky_and_escaping(loki)
    for s in suggest(loki):
        with FileEventLog(loki) as log:
            answer(log, s["approval_id"], True, by="alice")
    apply_granted(loki)
    before = (loki / "state" / "outcomes" / "applied.json").read_bytes()
    (loki / "state" / "outcomes" / "applied.json").unlink()
    rebuild(loki, [OutcomesProjection()])
    assert (loki / "state" / "outcomes" / "applied.json").read_bytes() == before
    assert applied_view(loki)["flaky_gates"] == ["quality"]
    assert outcomes(loki).runs["s0"]["status"] == FAILURE


@pytest.mark.parametrize("args", [("learn", "status", "--json"), ("learn", "suggest"), ("learn", "apply")])
def test_the_learn_commands(loki: Path, args):
    from typer.testing import CliRunner

    from commands.cli import app

    flaky_and_escaping(loki)
    result = CliRunner().invoke(app, ["--loki-dir", str(loki), *args])
    assert result.exit_code == 0, result.output
    if args[1] == "status":
        assert json.loads(result.stdout)["runs"] == {"failure": 3, "success": 3}
    elif args[1] == "suggest":
        assert result.stdout.count("lokilog approve apr-sug-") == 2

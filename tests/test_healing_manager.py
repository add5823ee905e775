"""The healing subscriber on a real `.loki/`: one decision per failure, carried out once."""
from __future__ import annotations

import collections
import os
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from commands.checkpoints.lifecycle import create
from commands.policy.approvals import approvals
from eventlog import FileEventLog
from projections.engine import catch_up
from projections.run_state import RunStateProjection
from subscribers.base import drain
from subscribers.cursor import Cursor
from subscribers.healing.manager import HealingManager
from subscribers.registry import enabled_subscribers


def seed_failures(loki: Path) -> str:
    """A checkpoint, then a transient failure, a fault seen twice, a policy denial and a stray error."""
    with FileEventLog(loki) as log:
        for task in ("t1", "t2", "t3"):
            log.append("task", "runner", {"action": "created", "task_id": task}, stream=task)
    checkpoint = create(loki, "good state").manifest.id
    with FileEventLog(loki) as log:
        log.append("task", "runner", {"action": "started", "task_id": "t2"}, stream="t2")
        log.append("task", "runner", {"action": "failed", "task_id": "t1", "error": "request timed out after 30s"})
        log.append("task", "runner", {"action": "failed", "task_id": "t2", "error": "assert total == 41 (got 40)"})
        log.append("task", "runner", {"action": "failed", "task_id": "t2", "error": "assert total == 42 (got 40)"})
        log.append("error", "runner", {"error_class": "PolicyDenied", "message": "write denied by policy",
                                       "task_id": "t3"})
        log.append("error", "runner", {"error_class": "Crash", "message": "boom"})
    return checkpoint


def outcome(loki: Path) -> dict:
    with FileEventLog(loki) as log:
        events = list(log.read())
    decisions = [e for e in events if e.type == "healing"]
    return {
        "per_failure": collections.Counter(e.payload["failure_id"] for e in decisions),
        "actions": [e.payload["action"] for e in decisions],
        "rollbacks": [e for e in events if e.type == "checkpoint" and e.payload.get("action") == "rolled_back"],
        "approvals": [e for e in events if e.type == "approval" and e.payload.get("action") == "requested"],
    }


def test_each_failure_gets_its_rule_and_the_rollback_targets_the_checkpoint_before_it(loki: Path):
    checkpoint = seed_failures(loki)
    drain(loki, HealingManager(loki))
    found = outcome(loki)
    assert found["actions"] == ["retry", "retry", "rollback", "escalated", "skip"]
    assert set(found["per_failure"].values()) == {1}
    assert [e.payload["checkpoint_id"] for e in found["rollbacks"]] == [checkpoint]
    assert found["rollbacks"][0].id.startswith("heal-rb-")
    pending = [a.approval_id for a in approvals(FileEventLog(loki)).pending()]
    assert [e.payload["approval_id"] for e in found["approvals"]] == pending
    tasks = catch_up(loki, RunStateProjection(), write_views=False).state
    assert "t2" in str(tasks)  # run state was rewound, not broken


def test_a_replay_from_seq_0_and_a_fresh_process_act_on_nothing_twice(loki: Path):
    seed_failures(loki)
    drain(loki, HealingManager(loki))
    first = outcome(loki)
    Cursor(loki, "healing").commit(0, None)  # the log "was rewritten": everything is delivered again
    drain(loki, HealingManager(loki))
    drain(loki, HealingManager(loki))
    again = outcome(loki)
    assert again["actions"] == first["actions"]
    assert len(again["rollbacks"]) == 1 and len(again["approvals"]) == 1


def test_a_vanished_checkpoint_turns_the_rollback_into_an_approval(loki: Path):
    import shutil

    checkpoint = seed_failures(loki)
    shutil.rmtree(loki / "state" / "checkpoints" / checkpoint)  # gone after the decision could see it
    drain(loki, HealingManager(loki))
    found = outcome(loki)
    assert "rollback" in found["actions"] and found["rollbacks"] == []
    reasons = [e.payload["reason"] for e in found["approvals"]]
    assert len(reasons) == 2 and any(r.startswith(f"rollback to {checkpoint} failed") for r in reasons)


def test_healing_is_enabled_by_its_variable_or_a_governance_file(loki: Path):
    loki.mkdir(parents=True)
    names = lambda env: [s.name for s in enabled_subscribers(loki, env)]  # noqa: E731
    assert "healing" not in names({})
    assert "healing" in names({"LOKI_HEALING": "1"})
    (loki / "governance.yaml").write_text("gates: {}\n")
    assert "healing" in names({})
    assert "healing" not in names({"LOKI_HEALING": "off"})


def test_the_demo_heals_by_retry_and_rollback_and_learns_a_suggestion(tmp_path: Path):
    from conftest import run_lokilog

    result = run_lokilog("demo", str(tmp_path / "run"), loki=tmp_path / "unused")
    assert result.returncode == 0, result.stderr
    section = result.stdout.split("== Healing and learning (lokilog learn) ==")[1]
    assert "healing.retry     task-004: transient" in section
    assert "healing.rollback  task-005: permanent" in section and "checkpoint.rolled_back" in section
    assert section.count("governance.suggestion") == 2 and '"min_coverage"' in section
    assert "audit verify --witness: the chain agrees with it" in section


def test_a_gate_learned_flaky_and_approved_makes_its_failures_transient(loki: Path):
    from commands.learning import apply_granted, suggest
    from commands.policy.approvals import answer
    from test_outcomes import flaky_and_escaping

    def decide_on(task: str) -> dict:
        with FileEventLog(loki) as log:
            log.append("task", "runner", {"action": "failed", "task_id": task, "gate": "quality",
                                          "error": "coverage 71% below the threshold"})
        drain(loki, HealingManager(loki))
        with FileEventLog(loki) as log:
            return [e.payload for e in log.read() if e.type == "healing"][-1]

    flaky_and_escaping(loki)
    assert decide_on("t-before")["classification"] == "unclassified"
    (flaky,) = [s for s in suggest(loki) if s["kind"] == "mark_flaky"]
    with FileEventLog(loki) as log:
        answer(log, flaky["approval_id"], True, by="alice")
    apply_granted(loki)
    after = decide_on("t-after")
    assert (after["action"], after["classification"]) == ("retry", "transient")


_errors = st.sampled_from(["upstream timed out", "assert x == 1", "KeyError: 'id'", "denied by policy", "429"])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(["a", "b"]), _errors, st.booleans()), min_size=1, max_size=12),
       st.lists(st.tuples(st.integers(1, 6), st.booleans()), min_size=1, max_size=6))
def test_restarts_and_replays_at_any_point_make_the_decisions_of_one_pass(tmp_path_factory, steps, restarts):
    """However the deliveries are cut into fresh processes and replays from seq 0, every failure
    gets the decision a single pass gives it, once."""
    def emit(loki: Path) -> None:
        with FileEventLog(loki) as log:
            for task, error, completes in steps:
                log.append("task", "runner", {"action": "failed", "task_id": task, "error": error}, id=f"f-{len(error)}-"
                           + os.urandom(4).hex())
                if completes:
                    log.append("task", "runner", {"action": "completed", "task_id": task})

    def decisions(loki: Path) -> list:
        with FileEventLog(loki) as log:
            events = list(log.read())
        order = {e.id: i for i, e in enumerate(e for e in events if e.type == "task")}
        made = [e.payload for e in events if e.type == "healing"]
        return sorted(((order[p["failure_id"]], p["action"], p.get("attempt")) for p in made))

    once = tmp_path_factory.mktemp("once") / ".loki"
    emit(once)
    drain(once, HealingManager(once))
    cut_log = tmp_path_factory.mktemp("cut") / ".loki"
    emit_same(once, cut_log)  # the same failures, ids and all, before any decision
    for limit, replay in restarts:
        if replay:
            Cursor(cut_log, "healing").commit(0, None)
        drain(cut_log, HealingManager(cut_log), limit=limit)
    drain(cut_log, HealingManager(cut_log))
    assert decisions(cut_log) == decisions(once)
    assert collections.Counter(p for p, *_ in decisions(cut_log)).most_common(1)[0][1] == 1


def emit_same(source: Path, target: Path) -> None:
    """Copy the failures and completions of ``source`` (ids and all), leaving out what healing added."""
    with FileEventLog(source) as old, FileEventLog(target) as new:
        for event in old.read():
            if event.type == "task":
                new.append(event.type, event.source, event.payload, id=event.id, timestamp=event.timestamp)

"""The run state is bounded by the number of tasks, not by the length of the log."""
from __future__ import annotations

import sys
from pathlib import Path

from hypothesis import given, settings, strategies as st

from eventlog import Event
from projections.engine.snapshots import encode_state
from projections.run_state import HISTORY_LIMIT, RECENT_GATES, RunState, RunStateProjection, summary

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts" / "bench"))
from realistic_run import drafts  # noqa: E402


def _event(seq: int, draft: dict, timestamp: str = "2026-02-21T10:00:00.000Z") -> Event:
    return Event(seq=seq, id=f"e{seq}", type=draft["type"], source=draft["source"], timestamp=timestamp,
                 version="1.0", stream=draft.get("stream"), payload=draft["payload"])


def _fold(count: int, tasks: int) -> RunState:
    projection, state = RunStateProjection(), RunState()
    for seq, draft in enumerate(drafts(count, tasks), 1):
        state = projection.apply(state, _event(seq, draft))
    return state


def test_the_state_stops_growing_with_the_log_at_a_fixed_number_of_tasks():
    short, long = _fold(20_000, 50), _fold(200_000, 50)
    assert len(short.tasks) == len(long.tasks) == 50
    stored = [sum(len(t.history) for t in s.tasks.values()) for s in (short, long)]
    assert stored == [50 * HISTORY_LIMIT] * 2  # every task has had more transitions already
    assert short.gates_counted == long.gates_counted
    assert len(short.recent_gates) == len(long.recent_gates) == RECENT_GATES
    # The same entries; only the seqs written in them have one digit more.
    assert len(encode_state(long)) < 1.05 * len(encode_state(short))
    assert len(encode_state(summary(long))) < 1.05 * len(encode_state(summary(short)))


def test_created_at_is_the_first_task_event_after_the_history_forgot_it():
    projection, state = RunStateProjection(), RunState()
    actions = ["created", "claimed", "started", "failed"] * 4
    for seq, action in enumerate(actions, 1):
        draft = {"type": "task", "source": "s", "payload": {"action": action, "task_id": "t1"}}
        state = projection.apply(state, _event(seq, draft, f"2026-02-21T10:00:{seq:02d}Z"))
    task = state.tasks["t1"]
    assert task.created_at == "2026-02-21T10:00:01Z" and len(task.history) == HISTORY_LIMIT
    assert [t.seq for t in task.history] == list(range(len(actions) - HISTORY_LIMIT + 1, len(actions) + 1))


_gate_events = st.lists(st.tuples(st.sampled_from(["t1", "t2", None]), st.sampled_from(["unit", "lint"]),
                                  st.sampled_from(["pass", "fail", "error"])), max_size=40)


@settings(max_examples=60, deadline=None)
@given(gates=_gate_events, task_first=st.booleans())
def test_gate_counts_and_recent_gates_match_a_count_from_scratch(gates, task_first):
    projection, state, seq = RunStateProjection(), RunState(), 0
    if task_first:
        seq += 1
        state = projection.apply(state, _event(seq, {"type": "task", "source": "s",
                                                     "payload": {"action": "created", "task_id": "t1"}}))
    for task_id, gate, result in gates:
        seq += 1
        payload = {"action": "gate", "gate": gate, "result": result, **({"task_id": task_id} if task_id else {})}
        state = projection.apply(state, _event(seq, {"type": "quality", "source": "s", "payload": payload}))
    view = summary(state)["gates"]
    latest = {(t or "", g): r for t, g, r in gates}  # the latest result per task and gate
    passed = sum(r == "pass" for r in latest.values())
    assert (view["passed"], view["failed"]) == (passed, len(latest) - passed)
    assert [(g["task_id"], g["gate"], g["result"]) for g in view["recent"]] == gates[-RECENT_GATES:]
    if task_first and any(t == "t1" for t, _, _ in gates):
        last = max(n for n, (t, _, _) in enumerate(gates) if t == "t1")
        assert state.tasks["t1"].updated_seq == last + 2  # a gate on a task changes the task


def test_a_gate_reported_before_its_task_is_the_tasks_once_it_arrives():
    projection, state = RunStateProjection(), RunState()
    gate = {"type": "quality", "source": "s",
            "payload": {"action": "gate", "gate": "unit", "result": "fail", "task_id": "t1"}}
    created = {"type": "task", "source": "s", "payload": {"action": "created", "task_id": "t1"}}
    state = projection.apply(projection.apply(state, _event(1, gate)), _event(2, created))
    assert state.tasks["t1"].gates == {"unit": "fail"} and state.early_gates == {}
    assert summary(state)["gates"] | {"recent": None} == {"passed": 0, "failed": 1, "recent": None}

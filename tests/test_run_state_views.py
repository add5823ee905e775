"""tasks.json written from the changed tasks only is byte for byte the view encoded whole."""
from __future__ import annotations

import sys
from pathlib import Path

from hypothesis import given, settings, strategies as st

from eventlog import Event
from projections.run_state import RunState, RunStateProjection, _tasks_bytes
from projections.run_state_views import TasksDocument

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts" / "bench"))
from realistic_run import drafts  # noqa: E402


def _events(count: int, tasks: int) -> list[Event]:
    return [Event(seq=seq, id=f"e{seq}", type=d["type"], source=d["source"], timestamp="2026-02-21T10:00:00Z",
                  version="1.0", stream=d.get("stream"), payload=d["payload"])
            for seq, d in enumerate(drafts(count, tasks), 1)]


@settings(max_examples=25, deadline=None)
@given(cuts=st.lists(st.integers(1, 40), min_size=1, max_size=30), tasks=st.integers(1, 30))
def test_the_document_matches_the_whole_encoding_after_every_step(cuts, tasks):
    projection, document = RunStateProjection(), TasksDocument()
    state, events, at = RunState(), _events(sum(cuts), tasks), 0
    assert document.encode(state) == _tasks_bytes(state)
    for cut in cuts:
        for event in events[at:at + cut]:
            state = projection.apply(state, event)
        at += cut
        assert document.encode(state) == _tasks_bytes(state)


def test_a_gate_alone_changes_the_task_piece():
    projection, document = RunStateProjection(), TasksDocument()
    state = projection.apply(RunState(), Event(seq=1, id="a", type="task", source="s", timestamp="2026-02-21T10:00:00Z",
                                               version="1.0", payload={"action": "created", "task_id": "t1"}))
    before = document.encode(state)
    state = projection.apply(state, Event(seq=2, id="b", type="quality", source="s", timestamp="2026-02-21T10:00:01Z",
                                          version="1.0", payload={"action": "gate", "gate": "unit", "result": "fail",
                                                                  "task_id": "t1"}))
    after = document.encode(state)
    assert after != before and after == _tasks_bytes(state)


def test_another_state_object_starts_over():
    projection, document = RunStateProjection(), TasksDocument()
    events = _events(300, 20)
    first = RunState()
    for event in events:
        first = projection.apply(first, event)
    document.encode(first)
    second = RunState()
    for event in events[:150]:
        second = projection.apply(second, event)
    assert document.encode(second) == _tasks_bytes(second)

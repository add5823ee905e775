"""tasks.json written from the changed tasks only is byte for byte the view encoded whole, one line per task."""
from __future__ import annotations

import sys
from pathlib import Path

import msgspec
from hypothesis import given, settings, strategies as st

from eventlog import Event
from projections.run_state import RunState, RunStateProjection, tasks_view
from projections.run_state_views import TasksDocument, tasks_bytes

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
    assert document.encode(state) == tasks_bytes(state)
    for cut in cuts:
        for event in events[at:at + cut]:
            state = projection.apply(state, event)
        at += cut
        assert document.encode(state) == tasks_bytes(state)


def test_a_gate_alone_changes_the_task_piece():
    projection, document = RunStateProjection(), TasksDocument()
    state = projection.apply(RunState(), Event(seq=1, id="a", type="task", source="s", timestamp="2026-02-21T10:00:00Z",
                                               version="1.0", payload={"action": "created", "task_id": "t1"}))
    before = document.encode(state)
    state = projection.apply(state, Event(seq=2, id="b", type="quality", source="s", timestamp="2026-02-21T10:00:01Z",
                                          version="1.0", payload={"action": "gate", "gate": "unit", "result": "fail",
                                                                  "task_id": "t1"}))
    after = document.encode(state)
    assert after != before and after == tasks_bytes(state)


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
    assert document.encode(second) == tasks_bytes(second)


def test_the_document_is_one_compact_line_per_task_sorted_by_id():
    projection, state = RunStateProjection(), RunState()
    for event in _events(400, 12):
        state = projection.apply(state, event)
    data = TasksDocument().encode(state)
    assert msgspec.json.decode(data) == msgspec.to_builtins(tasks_view(state))
    lines = data.split(b"\n")
    assert lines[0] == b'{"seq":%d,"tasks":[' % state.seq and lines[-2:] == [b"]}", b""]
    encoder = msgspec.json.Encoder(order="sorted")
    expected = [encoder.encode(state.tasks[k]) for k in sorted(state.tasks)]
    assert lines[1:-2] == [line + b"," for line in expected[:-1]] + expected[-1:]
    assert msgspec.json.decode(lines[1].rstrip(b","))["history"][0] == [
        state.tasks[sorted(state.tasks)[0]].history[0].seq, "2026-02-21T10:00:00Z",
        state.tasks[sorted(state.tasks)[0]].history[0].status]


def test_no_tasks_is_an_empty_list():
    assert TasksDocument().encode(RunState(seq=4)) == b'{"seq":4,"tasks":[]}\n'
    assert msgspec.json.decode(tasks_bytes(RunState(seq=4))) == {"seq": 4, "tasks": []}


def test_the_chunks_written_are_the_document():
    projection, document, state = RunStateProjection(), TasksDocument(), RunState()
    for event in _events(16_000, 1500):  # more lines than one os.writev call takes
        state = projection.apply(state, event)
    chunks = document.chunks(state)
    assert len(chunks) > 1024 and b"".join(chunks) == tasks_bytes(state)

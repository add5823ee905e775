"""The trackers projection: a pure fold from task, run and tracker events to the outbox."""
from __future__ import annotations

from pathlib import Path

import msgspec
from hypothesis import given, settings, strategies as st

from eventlog import Event
from projections.base import project
from projections.registry import all_projections
from projections.trackers import TrackerProjection, TrackerState, outbox, outcome_id

P = TrackerProjection()
TASKS = ("t1", "t2")
REFS = {"jira": "PROJ-1", "linear": "lin-1", "github": "acme/app#3"}


class _Events:
    def __init__(self) -> None:
        self.events: list[Event] = []

    def add(self, type_: str, payload: dict, source: str = "runner", id_: str | None = None) -> Event:
        seq = len(self.events) + 1
        event = Event(seq=seq, id=id_ or f"e{seq}", type=type_, source=source,
                      timestamp=f"2026-02-21T10:{seq // 60 % 60:02d}:{seq % 60:02d}.000Z", version="1.0",
                      payload=payload)
        self.events.append(event)
        return event


def encode(state: TrackerState) -> bytes:
    return msgspec.json.encode(state)


def build(commands: list[tuple]) -> list[Event]:
    """Turn drawn commands into a log; sync outcomes name ops the fold has pending at that point."""
    log, state = _Events(), P.initial()
    for command in commands:
        kind = command[0]
        if kind == "task":
            log.add("task", {"action": command[1], "task_id": command[2], "title": "T",
                             **({"parent_task_id": "t1"} if command[2] == "t2" else {})})
        elif kind == "link":
            tracker = command[1]
            ref = "acme/app@abcdef1" if command[3] else REFS[tracker]
            log.add("tracker", {"action": "linked", "tracker": tracker, "task_id": command[2], "ref": ref}, "cli")
        elif kind == "phase":
            log.add("state", {"action": "phase", "phase": command[1]})
        elif kind == "gate":
            log.add("quality", {"action": "gate", "gate": "lint", "result": "pass", "task_id": command[1]})
        elif kind in ("synced", "failed") and outbox(state, include_given_up=True):
            ops = outbox(state, include_given_up=True)
            op = ops[command[1] % len(ops)]
            payload = {"action": kind, "tracker": op.tracker, "op_id": op.id, "kind": op.kind, "ref": op.ref,
                       "task_id": op.task_id, "value": op.value}
            if kind == "synced" and op.kind == "subtask":
                payload["result"] = {"key": "PROJ-9"}
            if kind == "failed":
                payload.update(error="HTTP 500", attempt=op.attempts + 1, gave_up=command[2])
            log.add("tracker", payload, "lokilog", id_=outcome_id(kind, op.id, op.attempts + 1 if kind == "failed" else 0))
        elif kind == "retry":
            log.add("tracker", {"action": "retry_requested"}, "cli")
        else:
            continue
        state = P.apply(state, log.events[-1])
    return log.events


commands = st.lists(st.one_of(
    st.tuples(st.just("task"), st.sampled_from(["created", "started", "completed", "failed", "claim"]), st.sampled_from(TASKS)),
    st.tuples(st.just("link"), st.sampled_from(sorted(REFS)), st.sampled_from(TASKS), st.booleans()),
    st.tuples(st.just("phase"), st.sampled_from(["REASON", "ACT", "REFLECT", "VERIFY"])),
    st.tuples(st.just("gate"), st.sampled_from(TASKS)),
    st.tuples(st.sampled_from(["synced", "failed"]), st.integers(0, 20), st.booleans()),
    st.tuples(st.just("retry")),
), max_size=40)


@settings(max_examples=60, deadline=None)
@given(commands, st.integers(0, 40))
def test_resuming_from_a_snapshot_equals_a_full_fold(drawn, split):
    events = build(drawn)
    split = min(split, len(events))
    full = project(P, events)
    snapshot = msgspec.json.decode(encode(project(P, events[:split])), type=TrackerState)
    assert encode(project(P, events[split:], snapshot)) == encode(full)


@settings(max_examples=30, deadline=None)
@given(commands)
def test_synced_ops_never_return_to_the_outbox(drawn):
    events = build(drawn)
    state = project(P, events)
    synced = {e.payload["op_id"] for e in events if e.type == "tracker" and e.action == "synced"}
    assert not synced & {op.id for op in outbox(state, include_given_up=True)}


def test_views_are_byte_identical_across_rebuilds(tmp_path: Path):
    events = build([("task", "created", "t1"), ("link", "jira", "t1", False), ("gate", "t1"), ("synced", 0, False)])
    first, second = tmp_path / "a", tmp_path / "b"
    P.write_views(project(P, events), first)
    P.write_views(project(P, events), second)
    assert (first / "trackers/state.json").read_bytes() == (second / "trackers/state.json").read_bytes()


def test_only_the_newest_status_is_pending():
    events = build([("task", "created", "t1"), ("link", "jira", "t1", False), ("task", "started", "t1"),
                    ("phase", "VERIFY"), ("task", "completed", "t1")])
    ops = outbox(project(P, events))
    assert [(op.kind, op.value) for op in ops] == [("status", "completed"), ("comment", "Task t1 completed.")]


def test_a_status_already_synced_is_not_desired_again():
    events = build([("task", "created", "t1"), ("link", "linear", "t1", False), ("synced", 0, False),
                    ("task", "claim", "t1"), ("synced", 0, False), ("task", "claim", "t1")])
    assert outbox(project(P, events)) == []  # a repeated claim asks for nothing new


def test_bad_links_are_ignored_not_fatal():
    log = _Events()
    log.add("tracker", {"action": "linked", "tracker": "github", "task_id": "t1", "ref": "../../etc#1"})
    log.add("tracker", {"action": "linked", "tracker": "gitlab", "task_id": "t1", "ref": "x"})
    state = project(P, log.events)
    assert state.ignored_links == 2 and state.links == {}


def test_subtask_results_link_the_child_task():
    events = build([("task", "created", "t1"), ("link", "jira", "t1", False), ("task", "created", "t2")])
    kinds = [op.kind for op in outbox(project(P, events))]
    assert kinds == ["status", "subtask"]
    events = build([("task", "created", "t1"), ("link", "jira", "t1", False), ("task", "created", "t2"),
                    ("synced", 1, False)])
    state = project(P, events)
    assert [t.ref for t in state.links["t2"]] == ["PROJ-9"]
    assert [(op.ref, op.kind) for op in outbox(state)] == [("PROJ-1", "status"), ("PROJ-9", "status")]


def test_the_projection_is_registered():
    assert "trackers" in [p.name for p in all_projections()]


def _walk_every_task(state: TrackerState, event: Event) -> TrackerState:
    """The reference fold: a phase change visits every task (correct, and quadratic)."""
    from projections import trackers

    phase = event.payload.get("phase")
    if event.type == "state" and event.action == "phase" and isinstance(phase, str):
        for task_id, task in state.tasks.items():
            if task.state in ("claimed", "started") and task.phase != phase:
                task.phase = phase
                trackers._desire_status(state, task_id, event)
        return state
    return P.apply(state, event)


@settings(max_examples=80, deadline=None)
@given(commands)
def test_phase_changes_plan_what_visiting_every_task_would(drawn):
    from projections.trackers import current_phase, status_value

    events = build(drawn)
    fast, slow = P.initial(), P.initial()
    for event in events:
        fast, slow = P.apply(fast, event), _walk_every_task(slow, event)
    assert msgspec.to_builtins(outbox(fast, include_given_up=True)) == \
        msgspec.to_builtins(outbox(slow, include_given_up=True))
    for task_id, task in fast.tasks.items():
        current_phase(fast, task)
        assert status_value(task) == status_value(slow.tasks[task_id])


def test_the_view_follows_links_added_to_the_same_state(tmp_path: Path):
    """The links part of the view is memoized; a link added since must still show."""
    log = _Events()
    log.add("task", {"action": "created", "task_id": "t1", "title": "T"})
    log.add("tracker", {"action": "linked", "tracker": "jira", "task_id": "t1", "ref": "PROJ-1"}, "cli")
    state = project(P, log.events)
    P.write_views(state, tmp_path)
    log.add("tracker", {"action": "linked", "tracker": "linear", "task_id": "t1", "ref": "lin-1"}, "cli")
    log.add("tracker", {"action": "linked", "tracker": "jira", "task_id": "t0", "ref": "PROJ-2"}, "cli")
    for event in log.events[-2:]:
        state = P.apply(state, event)
    P.write_views(state, tmp_path)
    written = msgspec.json.decode((tmp_path / "trackers/state.json").read_bytes())
    assert written["links"] == {"t0": ["jira:PROJ-2"], "t1": ["jira:PROJ-1", "linear:lin-1"]}
    assert list(written["links"]) == ["t0", "t1"]
    fresh = tmp_path / "fresh"
    TrackerProjection().write_views(project(P, log.events), fresh)
    assert (fresh / "trackers/state.json").read_bytes() == (tmp_path / "trackers/state.json").read_bytes()


@settings(max_examples=80, deadline=None)
@given(commands, st.integers(0, 40))
def test_the_view_written_after_every_event_is_the_view_encoded_whole(drawn, resumed_at):
    """The view's remembered pieces follow every change: ops superseded, synced, failed, retried."""
    from projections.tracker_view import TrackerView, view_bytes

    view, state = TrackerView(), P.initial()
    for event in build(drawn):
        state = P.apply(state, event)
        if event.seq == resumed_at:  # a snapshot resumed: other objects, the same values
            state = msgspec.json.decode(encode(state), type=TrackerState)
        assert b"".join(view.chunks(state)) == view_bytes(state)


def test_the_view_keeps_its_layout(tmp_path: Path):
    """Written in pieces from the second write on, the file is still the whole view formatted."""
    log = _Events()
    log.add("task", {"action": "created", "task_id": "t1", "title": "T"})
    log.add("tracker", {"action": "linked", "tracker": "github", "task_id": "t1", "ref": "acme/app@abcdef1"}, "cli")
    log.add("tracker", {"action": "webhook_received", "tracker": "jira", "ref": "PROJ-1", "event": "updated"}, "cli")
    projection = TrackerProjection()
    projection.write_views(P.initial(), tmp_path)
    projection.write_views(project(P, log.events), tmp_path)
    written = (tmp_path / "trackers/state.json").read_bytes()
    view = msgspec.json.decode(written)
    assert written == msgspec.json.format(msgspec.json.encode(view), indent=2) + b"\n"
    assert [op["kind"] for op in view["pending"]] == ["status"]
    assert view["links"] == {"t1": ["github:acme/app@abcdef1"]} and view["webhooks"] == 1
    assert view["remote"]["jira:PROJ-1"]["event"] == "updated"


def test_the_view_follows_many_ops_moving_at_once():
    """Many ops added or superseded between two writes are merged, not placed one by one."""
    from projections.tracker_view import TrackerView, view_bytes

    log, view, state = _Events(), TrackerView(), P.initial()
    for round_, actions in enumerate((("created",), ("started",), ("completed",), ())):
        for n in range(100):
            task = f"t{n:03d}"
            if round_ == 0:
                log.add("tracker", {"action": "linked", "tracker": "github", "task_id": task,
                                    "ref": f"acme/app@{n:07x}"}, "cli")
            for action in actions if n % 3 else actions[:round_ % 2]:
                log.add("task", {"action": action, "task_id": task, "title": "T"})
        state = project(P, log.events)
        if round_ == 3:  # the newest status of half of them synced
            for op in outbox(state)[::2]:
                log.add("tracker", {"action": "synced", "tracker": op.tracker, "op_id": op.id, "kind": op.kind,
                                    "ref": op.ref, "task_id": op.task_id, "value": op.value}, "lokilog")
            state = project(P, log.events)
        assert b"".join(view.chunks(state)) == view_bytes(state)
        assert b"".join(view.chunks(state)) == view_bytes(state)  # and again, nothing changed
    assert 40 < len(outbox(state)) < 70


def test_a_status_whose_id_is_synced_leaves_the_view_unchanged_itself():
    """The outbox hides a status op whose id is synced: so does the view, the op being the same."""
    from projections.tracker_view import TrackerView, view_bytes

    log = _Events()
    log.add("task", {"action": "created", "task_id": "t1", "title": "T"})
    log.add("tracker", {"action": "linked", "tracker": "jira", "task_id": "t1", "ref": "PROJ-1"}, "cli")
    state, view = project(P, log.events), TrackerView()
    for _ in range(2):
        assert b"".join(view.chunks(state)) == view_bytes(state)
    (op,) = outbox(state)
    state.synced[op.id] = 3
    assert b"".join(view.chunks(state)) == view_bytes(state) and not outbox(state)
    del state.synced[op.id]
    state = msgspec.json.decode(encode(state), type=TrackerState)  # as many synced, other ones
    state.synced["elsewhere"] = 3
    assert b"".join(view.chunks(state)) == view_bytes(state) and outbox(state)

"""The span and metric folds behind OpenTelemetry export: pure, deterministic, restartable."""
from __future__ import annotations

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from commands.demo import simulated_run
from eventlog import Event
from subscribers.otel import metrics, spans


def stored(new_events) -> list[Event]:
    return [Event(seq=i, id=f"ev-{i}", type=e.type, source=e.source, timestamp=e.timestamp, version="1.0",
                  stream=e.stream, payload=e.payload) for i, e in enumerate(new_events, 1)]


def fold(events, state=None):
    state = state or spans.initial_state("demo-project")
    finished = []
    for event in events:
        finished += spans.apply(state, event)
    return state, finished


def test_the_demo_run_is_one_trace_project_task_phase_gate():
    state, finished = fold(stored(simulated_run()))
    assert not state.spans and not state.traces  # the session ended: nothing left open
    assert len({s.trace_id for s in finished}) == 1
    by_id = {s.span_id: s for s in finished}
    parent = {s.span_id: by_id[s.parent_span_id].name if s.parent_span_id else None for s in finished}
    names = sorted((s.name, parent[s.span_id]) for s in finished)
    assert names == sorted([
        ("loki.project", None), ("loki.agent", "loki.project"), ("loki.rarv_phase", "loki.project"),
        *[("loki.task", "loki.project")] * 3, *[("loki.rarv_phase", "loki.task")] * 3,
        *[("loki.quality_gate", "loki.rarv_phase")] * 3,
    ])
    gates = [s for s in finished if s.name == "loki.quality_gate"]
    assert [g.attributes["loki.quality_gate.passed"] for g in gates] == [True, True, False]
    assert gates[2].error == "gate unit-tests fail" and gates[2].attributes["loki.task.id"] == "task-003"
    project = next(s for s in finished if s.name == "loki.project")
    assert project.attributes["loki.project.id"] == "demo-project" and project.error == "session failed"
    failed = next(s for s in finished if s.attributes.get("loki.task.id") == "task-003" and s.name == "loki.task")
    assert failed.error == "unit tests failed"
    phases = [s.attributes["loki.rarv.phase"] for s in finished if s.name == "loki.rarv_phase"]
    assert sorted(phases) == ["ACT", "ACT", "ACT", "REASON"]
    for span in finished:
        assert span.start_ns <= span.end_ns and span.parent_span_id != span.span_id
        # every child lies inside its parent in time
        if span.parent_span_id:
            outer = by_id[span.parent_span_id]
            assert outer.start_ns <= span.start_ns and span.end_ns <= outer.end_ns


def test_the_demo_metrics():
    state = metrics.MetricState()
    for event in stored(simulated_run()):
        metrics.apply(state, event)
    assert state.gate_pass == {"unit-tests": 2} and state.gate_fail == {"unit-tests": 1}
    assert state.duration_count == 3 and state.duration_sum == 126.0
    assert state.tokens[metrics.token_key("claude-sonnet-4", "engineer", "input")] == 36_000
    assert state.tokens[metrics.token_key("claude-sonnet-4", "engineer", "cache_write")] == 4_500
    assert state.agents == {}  # started and stopped


def test_a_task_seen_only_at_its_end_reaches_back_by_its_duration():
    events = stored(simulated_run())
    without_starts = [e for e in events if not (e.type == "task" and e.action in ("created", "started"))]
    _, finished = fold(without_starts)
    tasks = [s for s in finished if s.name == "loki.task"]
    assert len(tasks) == 3 and all(s.end_ns - s.start_ns == 42_000_000_000 for s in tasks)


def test_loki_mode_runner_spans_and_council_reviews():
    events = stored([*simulated_run()[:3]])
    base = events[-1]
    extra = [
        Event(seq=10, id="x1", type="otel_span_start", source="runner", timestamp=base.timestamp, version="1.0",
              payload={"name": "iteration", "span_id": "it-1", "iteration": "1"}),
        Event(seq=11, id="x2", type="council", source="runner", timestamp=base.timestamp, version="1.0",
              payload={"action": "vote", "reviewer": "opus-1", "verdict": "APPROVE"}),
        Event(seq=12, id="x3", type="otel_span_end", source="runner", timestamp=base.timestamp, version="1.0",
              payload={"span_id": "it-1", "status": "ok"}),
    ]
    _, finished = fold(events + extra)
    council, custom = finished
    assert council.name == "loki.council" and council.attributes["loki.council.approved"] is True
    assert council.attributes["loki.council.reviewer"] == "opus-1"
    assert custom.name == "iteration" and custom.attributes["loki.iteration"] == "1"


# ---------------------------------------------------------------------------- properties

_ACTIONS = [("session", "start"), ("session", "end"), ("task", "started"), ("task", "completed"),
            ("task", "failed"), ("state", "phase"), ("quality", "gate"), ("agent", "start"), ("agent", "stop"),
            ("council", "vote"), ("otel_span_start", None), ("otel_span_end", None), ("metric", "token_usage")]


@st.composite
def runs(draw):
    count = draw(st.integers(0, 60))
    events = []
    for seq in range(1, count + 1):
        kind, action = draw(st.sampled_from(_ACTIONS))
        key = draw(st.sampled_from(["a", "b", "c"]))
        payload = {"action": action} if action else {}
        payload.update({"session_id": f"s-{key}"} if kind == "session" or draw(st.booleans()) else {})
        payload.update(task_id=f"t-{key}", agent_id=f"g-{key}", span_id=f"x-{key}", gate="lint",
                       result=draw(st.sampled_from(["pass", "fail", "not_run"])), phase=draw(st.sampled_from(["REASON", "ACT"])),
                       input_tokens=draw(st.integers(0, 50)), model="m")
        events.append(Event(seq=seq, id=f"id-{seq}", type=kind, source="runner", version="1.0",
                            timestamp=f"2026-03-01T10:{seq // 60:02d}:{seq % 60:02d}.000Z", payload=payload))
    return events


def _restart(state):
    """What the exporter's cursor file does to the state: encode, then decode."""
    return msgspec.json.decode(msgspec.json.encode(state), type=type(state))


@settings(max_examples=150, deadline=None)
@given(runs(), st.data())
def test_a_restart_at_any_event_gives_byte_identical_spans(events, data):
    _, whole = fold(events)
    cut = data.draw(st.integers(0, len(events)))
    state, first = fold(events[:cut])
    _, rest = fold(events[cut:], _restart(state))
    assert msgspec.json.encode(first + rest) == msgspec.json.encode(whole)
    metric_whole, metric_split = metrics.MetricState(), metrics.MetricState()
    for event in events:
        metrics.apply(metric_whole, event)
    for event in events[:cut]:
        metrics.apply(metric_split, event)
    metric_split = _restart(metric_split)
    for event in events[cut:]:
        metrics.apply(metric_split, event)
    assert msgspec.json.encode(metric_split) == msgspec.json.encode(metric_whole)


@settings(max_examples=150, deadline=None)
@given(runs())
def test_span_ids_are_unique_and_parents_exist_in_the_same_trace(events):
    state, finished = fold(events)
    every = finished + list(state.spans.values())
    ids = [s.span_id for s in every]
    assert len(ids) == len(set(ids))
    known = {s.span_id: s.trace_id for s in every}
    for span in every:
        assert span.start_ns <= (span.end_ns or span.start_ns)
        if span.parent_span_id and span.parent_span_id in known:
            assert known[span.parent_span_id] == span.trace_id


def test_ids_are_derived_not_random():
    assert spans.derive_id("span", "abc", 8) == spans.derive_id("span", "abc", 8)
    assert spans.derive_id("span", "abc", 8) != spans.derive_id("span", "abd", 8)
    assert len(spans.derive_id("trace", "s", 16)) == 32

"""Invariants of the engine, for random event sequences: incremental == full rebuild at random
split points (with snapshots at random moments and rollbacks), and rebuilding twice gives
byte-identical views and snapshots."""
from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventlog import FileEventLog, LogSettings
from projections.engine import Runner, RunnerGroup, catch_up, rebuild
from projections.run_state import RunStateProjection
from projections.engine.snapshots import encode_state

from projection_helpers import Counter, ReadsTasksCounter, RewindingCounter, StoppingCounter, views

TASKS = st.sampled_from(["t1", "t2", "t3"])
KINDS = st.one_of(
    st.tuples(st.just("task"), st.sampled_from(["created", "claimed", "started", "completed", "failed", "note"]), TASKS),
    st.tuples(st.just("session"), st.sampled_from(["start", "end"]), st.sampled_from(["s1", "s2"])),
    st.tuples(st.just("state"), st.just("phase"), st.sampled_from(["REASON", "ACT", "REFLECT", "VERIFY"])),
    st.tuples(st.just("agent"), st.sampled_from(["start", "stop"]), st.sampled_from(["a1", "a2"])),
    st.tuples(st.just("quality"), st.just("gate"), TASKS),
    st.tuples(st.just("rollback"), st.just(""), st.floats(0, 1)),
    st.tuples(st.just("poison"), st.just(""), st.just("")),
)


def _draft(kind: tuple, seq: int) -> dict:
    family, action, arg = kind
    if family == "task":
        return {"type": "task", "source": "runner", "payload": {"action": action, "task_id": arg}}
    if family == "session":
        return {"type": "session", "source": "runner", "payload": {"action": action, "session_id": arg, "status": "failed"}}
    if family == "state":
        return {"type": "state", "source": "runner", "payload": {"action": "phase", "phase": arg, "iteration": seq}}
    if family == "agent":
        return {"type": "agent", "source": "runner", "payload": {"action": action, "agent_id": arg, "agent_type": "eng"}}
    if family == "quality":
        return {"type": "quality", "source": "runner",
                "payload": {"action": "gate", "gate": "unit", "result": "pass" if seq % 2 else "fail", "task_id": arg}}
    if family == "rollback":
        return {"type": "checkpoint", "source": "cli",
                "payload": {"action": "rolled_back", "checkpoint_id": "cp", "to_seq": int(arg * (seq - 1))}}
    return {"type": "task", "source": "runner", "payload": {"action": "started", "poison": True}}  # no task_id


def _projections():
    return [RunStateProjection(), Counter(), RewindingCounter(), StoppingCounter(), ReadsTasksCounter()]


VIEW_DIRS = ("state", "counter", "projections")


def _snapshot_states(loki: Path) -> dict[str, bytes]:
    return {p: v for p, v in views(loki, "projections").items() if p.endswith("snapshot.json")}


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                               HealthCheck.too_slow])
@given(kinds=st.lists(KINDS, min_size=1, max_size=40), cuts=st.lists(st.floats(0, 1), max_size=4),
       every=st.integers(1, 7), live=st.booleans())
def test_incremental_equals_full_rebuild(tmp_path, kinds, cuts, every, live):
    drafts = [_draft(k, i + 1) for i, k in enumerate(kinds)]
    points = sorted({int(c * len(drafts)) for c in cuts} | {len(drafts)})
    with tempfile.TemporaryDirectory(dir=tmp_path) as scratch:
        loki = Path(scratch) / ".loki"
        settings_ = LogSettings(durability="never", segment_max_bytes=1500)
        runners = [Runner(loki, p, snapshot_every=every, snapshot_seconds=1e9) for p in _projections()] if live else []
        try:
            with FileEventLog(loki, settings=settings_) as log:
                done = 0
                for point in points:
                    log.append_many(drafts[done:point])
                    done = point
                    if live:  # as the watch daemon does: one pass for all, then each writes
                        RunnerGroup(runners, log).advance()
                        incremental = [r.catch_up() for r in runners]
                    else:
                        incremental = [catch_up(loki, p) for p in _projections()]
            incremental_states = [encode_state(r.state) for r in incremental]
            incremental_views = views(loki, "state", "counter")
        finally:
            for runner in runners:
                runner.close()
        full = rebuild(loki, _projections())
        assert [encode_state(r.state) for r in full] == incremental_states
        assert [(r.seq, r.dead_letters, r.stopped) for r in full] == [(r.seq, r.dead_letters, r.stopped) for r in incremental]
        assert views(loki, "state", "counter") == incremental_views
        once = views(loki, *VIEW_DIRS)
        rebuild(loki, _projections())
        assert views(loki, *VIEW_DIRS) == once  # rebuilding twice: byte-identical, snapshots included

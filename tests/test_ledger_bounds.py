"""The ledgers stay bounded at a fixed number of tasks, and their remembered views stay right.

State size: the entries each ledger keeps (cells, counters, per-task tallies, remembered ids)
are counted, not timed, after folding a realistic run and a run four times as long over the
same tasks; they must not grow. Views: a projection kept in memory writes its views after
every few events, skipping what did not change; the files must be byte for byte those a fresh
fold writes, however the writes fall, and a file someone removed is written again.
"""
from __future__ import annotations

import sys
from pathlib import Path

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from eventlog import Event
from projections.approvals import ApprovalsProjection
from projections.base import project
from projections.checkpoints import INDEX, CheckpointProjection
from projections.cost import CostProjection
from projections.crash_reports import CrashReportsProjection
from projections.metrics import MetricsProjection
from projections.outcomes import OutcomesProjection
from projections.recent_ids import WINDOW

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts" / "bench"))
from realistic_run import drafts  # noqa: E402


def run(count: int, tasks: int) -> list[Event]:
    return [Event(seq=seq, id=f"e{seq:08d}", type=d["type"], source=d["source"],
                  timestamp=f"2026-02-21T10:{seq // 60_000 % 60:02d}:{seq // 1000 % 60:02d}.{seq % 1000:03d}Z",
                  version="1.0", stream=d.get("stream"), payload=d["payload"])
            for seq, d in enumerate(drafts(count, tasks), 1)]


def entries(name: str, state) -> int:
    """The entries a ledger's state holds (ids remembered lately are bounded apart, by WINDOW)."""
    if name == "cost":
        return len(state.cells) + len(state.task_cells) + len(state.fired)
    if name == "metrics":
        return sum(len(getattr(state, f)) for f in ("events", "tasks", "gate_pass", "gate_fail", "agents", "tokens",
                                                    "errors"))
    if name == "outcomes":
        return sum(len(v) for v in msgspec.structs.asdict(state).values() if isinstance(v, (dict, list)))
    return len(state["reports"])


def test_ledger_states_stop_growing_with_the_log_at_a_fixed_number_of_tasks():
    short, long = run(25_000, 500), run(100_000, 500)
    for projection in (CostProjection(), MetricsProjection(), OutcomesProjection(), CrashReportsProjection()):
        small, large = project(projection, short), project(projection, long)
        assert entries(projection.name, large) <= entries(projection.name, small) * 1.02 + 2, projection.name
        seen = getattr(large, "seen", None) or getattr(large, "usage_seen", None)
        if seen is not None:
            assert len(seen.newer) + len(seen.older) <= 2 * WINDOW


LEDGERS = (CostProjection, MetricsProjection, OutcomesProjection, ApprovalsProjection, CheckpointProjection,
           CrashReportsProjection)


def files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


_checkpoint = st.one_of(
    st.builds(lambda i, line: {"action": "created", "checkpoint_id": f"cp-{i}", "message": "m",
                               **({"line": f'{{"id": "cp-{i}", "n": {line}}}'} if line is not None else {})},
              st.integers(0, 6), st.one_of(st.none(), st.integers(0, 2))),
    st.builds(lambda ids: {"action": "pruned", "checkpoint_ids": [f"cp-{i}" for i in ids]},
              st.lists(st.integers(0, 6), max_size=3)),
)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(_checkpoint, st.booleans(), st.booleans()), max_size=25))
def test_checkpoint_index_written_along_the_way_is_the_fresh_one(tmp_path_factory, steps):
    live_dir, fresh_dir = tmp_path_factory.mktemp("live"), tmp_path_factory.mktemp("fresh")
    live = CheckpointProjection()
    state = live.initial()
    events = []
    for seq, (payload, write, remove) in enumerate(steps, 1):
        event = Event(seq=seq, id=f"c{seq}", type="checkpoint", source="cli", timestamp="2026-02-21T10:00:00.000Z",
                      version="1.0", payload=payload)
        events.append(event)
        state = live.apply(state, event)
        if remove:
            (live_dir / INDEX).unlink(missing_ok=True)
        if write:
            live.write_views(state, live_dir)
    live.write_views(state, live_dir)
    fresh = CheckpointProjection()
    fresh.write_views(project(fresh, events), fresh_dir)
    # An index whose every checkpoint was pruned stays as an empty file, where a fresh fold of
    # the same events never creates one: readers take both as no checkpoints.
    assert {name: data for name, data in files(live_dir).items() if data} == files(fresh_dir)


def test_every_ledger_view_written_along_the_way_is_the_fresh_one(tmp_path):
    events = run(6_000, 300)
    for make in LEDGERS:
        live, live_dir = make(), tmp_path / f"live-{make.__name__}"
        state = live.initial()
        for position, event in enumerate(events, 1):
            if live.reads is None or event.type in {r.partition(".")[0] for r in live.reads}:
                state = live.apply(state, event)
            if position % 997 == 0:
                live.write_views(state, live_dir)
                live.write_views(state, live_dir)  # nothing changed: skipped, and still right
        for path in [p for p in live_dir.rglob("*") if p.is_file()][:1]:
            path.unlink()  # someone removed a view: the next write puts it back
        live.write_views(state, live_dir)
        fresh, fresh_dir = make(), tmp_path / f"fresh-{make.__name__}"
        fresh.write_views(project(fresh, events), fresh_dir)
        assert files(live_dir) == files(fresh_dir), make.__name__
        assert files(live_dir), make.__name__


_approval = st.tuples(st.sampled_from(["requested", "granted", "denied", "notified"]), st.integers(0, 12))


@settings(max_examples=60, deadline=None)
@given(st.lists(_approval, max_size=60))
def test_approvals_forget_old_answers_but_never_a_pending_one(tmp_path_factory, steps):
    events = [Event(seq=seq, id=f"a{seq}", type="approval", source="cli", timestamp="2026-02-21T10:00:00.000Z",
                    version="1.0", payload={"action": action, "approval_id": f"ap-{n}", "delivered": True})
              for seq, (action, n) in enumerate(steps, 1)]
    full = project(ApprovalsProjection(resolved_kept=None), events)
    capped = project(ApprovalsProjection(resolved_kept=2), events)
    assert capped.pending() == full.pending()
    answered = [a for a in full.approvals.values() if a.status != "pending"]
    kept = [a for a in capped.approvals.values() if a.status != "pending"]
    assert len(kept) + capped.forgotten == len(answered) and len(kept) <= 4
    newest = sorted(answered, key=lambda a: a.decided_seq)[-len(kept):] if kept else []
    assert sorted(kept, key=lambda a: a.decided_seq) == newest
    views = []
    for projection, state in ((ApprovalsProjection(resolved_kept=None), full), (ApprovalsProjection(), capped)):
        folder = tmp_path_factory.mktemp("approvals")
        projection.write_views(state, folder)
        views.append(files(folder))
    live, folder = ApprovalsProjection(), tmp_path_factory.mktemp("live")
    state = live.initial()
    for event in events:  # written along the way: each notice and answer shows in the end
        state = live.apply(state, event)
        live.write_views(state, folder)
    live.write_views(state, folder)
    assert files(folder) == views[0]
    assert views[0] == views[1]


def test_approvals_view_pieces_are_the_whole_encoding(tmp_path):
    import msgspec

    events = [Event(seq=seq, id=f"a{seq}", type="approval", source="cli", timestamp="2026-02-21T10:00:00.000Z",
                    version="1.0", payload={"action": action, "approval_id": f"ap-{seq // 3}", "delivered": seq % 2 == 0,
                                            "context": {"b": 1, "a": [seq]}, "reason": "why"})
              for seq, action in enumerate(["requested", "notified", "notified"] * 5, 1)]
    projection = ApprovalsProjection()
    state = project(projection, events)
    projection.write_views(state, tmp_path)
    whole = msgspec.json.encode({"pending": state.pending()}, order="deterministic") + b"\n"
    assert (tmp_path / "state" / "approvals.json").read_bytes() == whole


def test_checkpoint_catalogue_forgets_old_pruned_ids_only():
    events = []
    for n in range(40):
        events.append({"action": "created", "checkpoint_id": f"cp-{n}", "message": "m"})
        if n % 2:
            events.append({"action": "pruned", "checkpoint_ids": [f"cp-{n - 1}", f"cp-{n}"]})
    folded = [Event(seq=seq, id=f"c{seq}", type="checkpoint", source="cli", timestamp="2026-02-21T10:00:00.000Z",
                    version="1.0", payload=payload) for seq, payload in enumerate(events, 1)]
    state = project(CheckpointProjection(pruned_kept=5), folded)
    assert 5 <= len(state["pruned"]) <= 10 and state["pruned"][-1] == "cp-39"
    assert state["checkpoints"] == {} and state["rewrites"] == 40

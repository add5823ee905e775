"""Work per event is flat in the size of the state: no fold visits every task, session or entry on one event.

Each projection's collections are swapped for counting ones, which count every entry an
``apply`` reads, writes or iterates. Folding 10k events over N tasks and 100k events over 10N
tasks must cost about the same number of touches per event; a fold that walks all tasks on
some event (the trackers fold once did on every ``state.phase``) touches ten times as many.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import msgspec

from eventlog import Event
from projections.engine.fold import FoldOutcome, Lane, fold_lanes
from projections.registry import all_projections

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts" / "bench"))
from realistic_run import drafts  # noqa: E402


class Touches:
    count = 0


class CountingDict(dict):
    def __getitem__(self, key):
        Touches.count += 1
        return super().__getitem__(key)

    def __setitem__(self, key, value):
        Touches.count += 1
        super().__setitem__(key, value)

    def __delitem__(self, key):
        Touches.count += 1
        super().__delitem__(key)

    def __contains__(self, key):
        Touches.count += 1
        return super().__contains__(key)

    def get(self, key, default=None):
        Touches.count += 1
        return super().get(key, default)

    def setdefault(self, key, default=None):
        Touches.count += 1
        return super().setdefault(key, default)

    def pop(self, key, *default):
        Touches.count += 1
        return super().pop(key, *default)

    def __iter__(self):
        for key in super().__iter__():
            Touches.count += 1
            yield key

    def keys(self):
        return list(iter(self))

    def values(self):
        return [super(CountingDict, self).__getitem__(k) for k in iter(self)]

    def items(self):
        return [(k, super(CountingDict, self).__getitem__(k)) for k in iter(self)]


class CountingSet(set):
    def __contains__(self, item):
        Touches.count += 1
        return super().__contains__(item)

    def add(self, item):
        Touches.count += 1
        super().add(item)

    def __iter__(self):
        for item in super().__iter__():
            Touches.count += 1
            yield item


def counting(value: Any, depth: int = 0) -> Any:
    """The same state with its dicts and sets (two levels deep) replaced by counting ones."""
    if isinstance(value, msgspec.Struct):
        for field in value.__struct_fields__:
            setattr(value, field, counting(getattr(value, field), depth))
        return value
    if isinstance(value, dict):
        inner = {k: counting(v, depth + 1) for k, v in value.items()} if depth < 2 else value
        return CountingDict(inner)
    if isinstance(value, set):
        return CountingSet(value)
    return value


def events(count: int, tasks: int) -> list[Event]:
    out = []
    for seq, draft in enumerate(drafts(count, tasks), 1):
        out.append(Event(seq=seq, id=f"e{seq:08d}", type=draft["type"], source=draft["source"],
                         timestamp=f"2026-02-21T{seq // 3_600_000 % 24:02d}:{seq // 60_000 % 60:02d}:"
                                   f"{seq // 1000 % 60:02d}.{seq % 1000:03d}Z",
                         version="1.0", stream=draft.get("stream"), payload=draft["payload"]))
    return out


def _never(seq: int):
    raise AssertionError("no rollback in this run")


def touches_per_event(projections: list, count: int, tasks: int) -> dict[str, float]:
    """Fold the run through the engine's fold and return each projection's touches per event."""
    run = events(count, tasks)
    out = {}
    for projection in projections:
        lane = Lane(projection, FoldOutcome(counting(projection.initial()), 0), _never)
        Touches.count = 0
        fold_lanes([lane], run)
        assert lane.outcome.seq == count and lane.outcome.dead_letter_count == 0, projection.name
        out[projection.name] = Touches.count / count
    return out


class WalksEveryTask:
    """A deliberately quadratic fold: proves the count notices one."""

    name = "walks-every-task"
    version = 1
    state_type = dict
    reads = ("task", "state.phase")

    def initial(self):
        return {"tasks": {}}

    def apply(self, state, event):
        if event.type == "task":
            state["tasks"][event.payload["task_id"]] = event.payload["action"]
        else:
            for task_id, status in state["tasks"].items():
                pass
        return state


def _with_collections() -> list:
    # The audit state is four scalars (the chain's head): nothing in it to visit.
    return [p for p in all_projections() if p.name != "audit"]


def test_work_per_event_does_not_grow_with_the_state():
    small = touches_per_event(_with_collections(), 10_000, 500)
    large = touches_per_event(_with_collections(), 100_000, 5_000)
    assert set(small) == set(large) and "trackers" in small
    grown = {name: (small[name], large[name]) for name in small if large[name] > 1.25 * small[name] + 0.05}
    assert not grown, f"touches per event grew with the state (10k events vs 100k): {grown}"


def test_the_count_catches_a_fold_that_walks_every_task():
    # Smaller than above: a quadratic fold is slow, which is the point.
    small = touches_per_event([WalksEveryTask()], 1_000, 50)["walks-every-task"]
    large = touches_per_event([WalksEveryTask()], 10_000, 500)["walks-every-task"]
    assert large > 5 * small

"""The engine's shared pass (projections/engine/fold.py) for random events, batches and lanes:
folding many projections in one pass gives each of them exactly what folding it alone gives
(state, position, dead letters, where it stopped, events counted, whether it applied any),
whatever the poison events, rollbacks, batch cuts and start positions. No I/O: pure folds."""
from __future__ import annotations

import copy

from hypothesis import given, settings
from hypothesis import strategies as st

from eventlog import Event
from projections.engine.fold import FoldOutcome, Lane, fold_batches
from projections.run_state import RunStateProjection

from projection_helpers import Counter, ReadsTasksCounter, RewindingCounter, StoppingCounter


class ReadsEverything(RewindingCounter):
    name = "reads-everything"
    reads = None


class ReadsGates(Counter):
    name = "reads-gates"
    reads = ("quality.gate", "agent")


class StopsOnTasks(StoppingCounter):
    name = "stops-on-tasks"
    reads = ("task",)


PROJECTIONS = (RunStateProjection, Counter, StoppingCounter, RewindingCounter, ReadsTasksCounter, ReadsEverything,
               ReadsGates, StopsOnTasks)

KIND = st.sampled_from(["task.created", "task.started", "task.poison", "quality.gate", "agent.start", "memory.note",
                        "checkpoint.rolled_back", "checkpoint.created", "quality.poison"])


def _event(seq: int, kind: str, back: float) -> Event:
    kind_type, action = kind.split(".")
    payload: dict = {"action": action, "task_id": f"t{seq % 3}"}
    if action == "poison":
        payload = {"action": "started", "poison": True}  # no task_id: run-state's poison too
    elif action == "gate":
        payload.update(gate="unit", result="pass" if seq % 2 else "fail")
    elif action == "rolled_back":
        payload["to_seq"] = int(back * (seq - 1))
    return Event(seq=seq, id=f"e{seq}", type=kind_type, source="test", timestamp="2026-01-01T00:00:00Z",
                 version="1", payload=payload)


def _restore_from(events: list[Event], projection):
    # A rollback to ``target``: a fresh fold of the events up to it (as the runner's restore does).
    def restore(target: int):
        state = projection.initial()
        for event in events[:target]:
            try:
                state = projection.apply(state, event)
            except Exception:  # noqa: BLE001 - a poison event is skipped here too
                pass
        return state
    return restore


def _fold(chosen: list[int], starts: list[int], events: list[Event], cuts: list[int]) -> list[tuple]:
    lanes = []
    for n, start in zip(chosen, starts):
        projection = PROJECTIONS[n]()
        lanes.append(Lane(projection, FoldOutcome(projection.initial(), start - 1), _restore_from(events, projection)))
    batches, done = [], 0
    for cut in sorted(set(cuts)) + [len(events)]:
        if cut > done:
            batches.append(list(events[done:cut]))
            done = cut
    fold_batches(lanes, batches)
    return [(lane.projection.name, _plain(lane.outcome.state), lane.outcome.seq, lane.outcome.dead_letter_count,
             lane.outcome.dead_letters, lane.outcome.stopped, lane.outcome.events, lane.applied > 0) for lane in lanes]


def _plain(state):
    import msgspec

    return msgspec.to_builtins(state) if isinstance(state, msgspec.Struct) else copy.deepcopy(state)


@settings(max_examples=150, deadline=None)
@given(kinds=st.lists(st.tuples(KIND, st.floats(0, 1)), min_size=1, max_size=60),
       chosen=st.lists(st.integers(0, len(PROJECTIONS) - 1), min_size=1, max_size=6, unique=True),
       starts=st.lists(st.integers(1, 30), min_size=6, max_size=6),
       cuts=st.lists(st.integers(0, 60), max_size=6))
def test_one_pass_gives_each_lane_what_folding_it_alone_gives(kinds, chosen, starts, cuts):
    events = [_event(seq, kind, back) for seq, (kind, back) in enumerate(kinds, start=1)]
    together = _fold(chosen, starts, events, cuts)
    alone = [_fold([n], [start], events, cuts)[0] for n, start in zip(chosen, starts)]
    assert together == alone

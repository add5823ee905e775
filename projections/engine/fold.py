"""The engine's fold: many projections in one pass, with the poison policy and rollback rewinds. No I/O.

Each projection takes part as a :class:`Lane`: its outcome so far (state, seq, poison), where
it starts in the pass (projections at different positions share one pass, each from its own
seq), the event types it reads, and ``restore(seq)``, which returns a fresh state as of
``seq`` for rollback rewinds (the engine reads the log for it). Every event is handed only to
the lanes that read its type; every lane's position still moves over the events it does not
read, so its snapshot records how far into the log it is.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable, Sequence

import msgspec

from eventlog import Event

from ..base import ROLLBACK_TYPE, STOP, Projection, error_policy, is_rewindable, read_types, rollback_target

#: Dead letters kept in a snapshot; older ones are only counted (the newest are what helps).
MAX_DEAD_LETTERS = 100


class DeadLetter(msgspec.Struct, frozen=True):
    """An event a projection could not apply, and why."""

    seq: int
    id: str
    type: str
    error: str


class FoldOutcome(msgspec.Struct):
    """Where a fold ended: its state, the last seq folded, and any poison it met."""

    state: Any
    seq: int
    head_id: str | None = None
    dead_letters: list[DeadLetter] = msgspec.field(default_factory=list)
    dead_letter_count: int = 0
    stopped: DeadLetter | None = None
    events: int = 0


class Lane:
    """One projection's part in a shared pass (see the module docstring)."""

    __slots__ = ("projection", "outcome", "restore", "apply", "start", "stop", "rewind", "types",
                 "actions", "state", "halted", "counted", "applied")

    def __init__(self, projection: Projection, outcome: FoldOutcome, restore: Callable[[int], Any],
                 start: int | None = None) -> None:
        self.projection = projection
        self.outcome = outcome
        self.restore = restore
        self.apply = projection.apply
        self.start = outcome.seq + 1 if start is None else start
        self.stop = error_policy(projection) == STOP
        self.rewind = is_rewindable(projection)
        reads = read_types(projection)
        if reads is not None and self.rewind:
            reads = {**reads, ROLLBACK_TYPE: _with(reads.get(ROLLBACK_TYPE, frozenset()), "rolled_back")}
        #: None: every type; else type -> None (every action) or the actions read.
        self.types: dict[str, frozenset[str] | None] | None = reads
        self.actions: frozenset[str] | None = None  # set per type while routing
        self.state = outcome.state
        self.halted = False
        self.counted = 0  # events of the pass before this lane joined
        self.applied = 0  # events handed to ``apply``: none, and the state (so its views) did not change


def _with(actions: frozenset[str] | None, action: str) -> frozenset[str] | None:
    return None if actions is None else actions | {action}


def wanted_types(lanes: Sequence[Lane]) -> frozenset[str] | None:
    """The event types some lane reads, or None when one of them reads every type."""
    wanted: set[str] = set()
    for lane in lanes:
        if lane.types is None:
            return None
        wanted.update(lane.types)
    return frozenset(wanted)


class _Routes:
    """Which lanes read which type: rebuilt only when a lane joins or stops."""

    def __init__(self, lanes: list[Lane]) -> None:
        everything = [lane for lane in lanes if lane.types is None]
        self.default: tuple[tuple[Lane, frozenset[str] | None], ...] = tuple((lane, None) for lane in everything)
        table: dict[str, list[tuple[Lane, frozenset[str] | None]]] = {}
        for lane in lanes:
            if lane.types is not None:
                for kind, actions in lane.types.items():
                    table.setdefault(kind, []).append((lane, actions))
        # Lanes keep the order they were given in, whichever way they read a type.
        order = {id(lane): n for n, lane in enumerate(lanes)}
        self.table = {kind: tuple(sorted(readers + list(self.default), key=lambda r: order[id(r[0])]))
                      for kind, readers in table.items()}


def fold_lanes(lanes: list[Lane], events: Iterable[Any], tick: Callable[[list[Lane]], None] | None = None,
               tick_every: int = 10_000) -> list[Lane]:
    """Fold ``events`` (in seq order) into every lane; outcomes are updated in place.

    ``events`` may include envelope-only records (seq, id, type) for types no lane reads.
    ``tick(lanes)`` is called every ``tick_every`` events, with the outcomes up to date, so a
    long fold can snapshot or report progress.
    """
    waiting = sorted((lane for lane in lanes if not lane.halted), key=lambda lane: lane.start)
    active: list[Lane] = []
    routes = _Routes(active)
    table, default = routes.table, routes.default
    next_start = waiting[0].start if waiting else None
    count = 0
    next_tick = tick_every
    last: Any = None
    for event in events:
        seq = event.seq
        if next_start is not None and seq >= next_start:
            while waiting and waiting[0].start <= seq:
                lane = waiting.pop(0)
                lane.counted = count
                active.append(lane)
            next_start = waiting[0].start if waiting else None
            routes = _Routes(active)
            table, default = routes.table, routes.default
        for lane, actions in table.get(event.type, default):
            if actions is not None and event.payload.get("action") not in actions:
                continue
            lane.applied += 1
            try:
                state = lane.state
                if lane.rewind and event.type == ROLLBACK_TYPE:
                    target = rollback_target(event)
                    if target is not None:
                        state = lane.restore(target)
                lane.state = lane.apply(state, event)
            except Exception as exc:  # a poison event: the projection's policy decides
                if _poisoned(lane, event, exc, last, count):
                    active.remove(lane)
                    routes = _Routes(active)
                    table, default = routes.table, routes.default
        count += 1
        last = event
        if tick is not None and count >= next_tick:
            _settle(active, last, count)
            tick(lanes)
            next_tick = count + tick_every
    _settle(active, last, count)
    for lane in lanes:
        stopped = lane.outcome.stopped
        if not lane.halted and stopped is not None and stopped.seq <= lane.outcome.seq:
            lane.outcome.stopped = None  # a retried poison event went through after a fix
    return lanes


def _poisoned(lane: Lane, event: Any, exc: Exception, last: Any, count: int) -> bool:
    """Record the poison event; return True when the lane stops here."""
    outcome = lane.outcome
    letter = DeadLetter(event.seq, event.id, event.type, f"{type(exc).__name__}: {exc}")
    if not lane.stop:
        outcome.dead_letters.append(letter)
        outcome.dead_letter_count += 1
        if len(outcome.dead_letters) > MAX_DEAD_LETTERS:
            del outcome.dead_letters[0]
        return False
    # Stop at the event before the poison one (if this lane had got that far in the pass).
    if last is not None and last.seq >= lane.start:
        _settle([lane], last, count)
    outcome.stopped = letter
    lane.halted = True
    return True


def _settle(lanes: Iterable[Lane], last: Any, count: int) -> None:
    if last is None:
        return
    for lane in lanes:
        outcome = lane.outcome
        outcome.state = lane.state
        outcome.events += count - lane.counted
        lane.counted = count
        outcome.seq, outcome.head_id = last.seq, last.id


def fold(
    projection: Projection,
    outcome: FoldOutcome,
    events: Iterable[Event],
    restore: Callable[[int], Any],
    tick: Callable[[FoldOutcome], None] | None = None,
    tick_every: int = 10_000,
) -> FoldOutcome:
    """Fold ``events`` into one projection's ``outcome`` (updated in place and returned)."""
    lane = Lane(projection, outcome, restore, start=0)
    fold_lanes([lane], events, None if tick is None else (lambda lanes: tick(outcome)), tick_every)
    return outcome

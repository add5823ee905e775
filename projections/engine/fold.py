"""The engine's fold: many projections in one pass, with the poison policy and rollback rewinds. No I/O.

Each projection takes part as a :class:`Lane`: its outcome so far (state, seq, poison), where
it starts in the pass (projections at different positions share one pass, each from its own
seq), the event types it reads, and ``restore(seq)``, which returns a fresh state as of
``seq`` for rollback rewinds (the engine reads the log for it). Every event is handed only to
the lanes that read its type; every lane's position still moves over the events it does not
read, so its snapshot records how far into the log it is.
"""
from __future__ import annotations

from itertools import islice
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
    """Which lanes read which event: rebuilt only when a lane joins or stops.

    A pass folds a batch in two steps: it first sorts the batch's events into one list per
    lane (``sinks``, in the order of the log), then hands each lane its list in one tight loop,
    so that what a pass costs per event and lane is one ``list.append``, not the bookkeeping of
    a lane. The lanes are independent (each folds only its own state), so the order in which
    they fold a batch changes nothing. ``table`` maps a type to the ``append`` of the lists of
    the lanes that read it, or, for a type some lane reads only some actions of, ``{action:
    those}`` with the lanes of any other action under None, so a pass reads an event's action
    once, whatever the number of lanes. Lanes that read every type (``everything``) take the
    batch itself; ``default`` (empty) is the route of the types no other lane reads.
    """

    def __init__(self, lanes: list[Lane]) -> None:
        self.everything = [lane for lane in lanes if lane.types is None]
        self.sinks: list[tuple[Lane, list]] = [(lane, []) for lane in lanes if lane.types is not None]
        sink_of = {id(lane): sink for lane, sink in self.sinks}
        readers: dict[str, list[tuple[Lane, frozenset[str] | None]]] = {}
        for lane, _ in self.sinks:
            for kind, actions in lane.types.items():
                readers.setdefault(kind, []).append((lane, actions))

        def route(chosen: list[Lane]) -> tuple:
            return tuple(sink_of[id(lane)].append for lane in chosen)

        self.default: tuple = ()
        self.table: dict[str, tuple | dict[str | None, tuple]] = {}
        for kind, some in readers.items():
            if all(actions is None for _, actions in some):
                self.table[kind] = route([lane for lane, _ in some])
                continue
            named = set().union(*(actions for _, actions in some if actions is not None))
            table: dict[str | None, tuple] = {
                action: route([lane for lane, actions in some if actions is None or action in actions])
                for action in named}
            table[None] = route([lane for lane, actions in some if actions is None])
            self.table[kind] = table


def fold_lanes(lanes: list[Lane], events: Iterable[Any], tick: Callable[[list[Lane]], None] | None = None,
               tick_every: int = 10_000) -> list[Lane]:
    """Fold ``events`` (in seq order) into every lane; outcomes are updated in place.

    ``events`` may include envelope-only records (seq, id, type) for types no lane reads.
    ``tick(lanes)`` is called about every ``tick_every`` events, with the outcomes up to date,
    so a long fold can snapshot or report progress.
    """
    if isinstance(events, list):
        return fold_batches(lanes, (events,), tick, tick_every)
    iterator = iter(events)
    return fold_batches(lanes, iter(lambda: list(islice(iterator, 1024)), []), tick, tick_every)


def fold_batches(lanes: list[Lane], batches: Iterable[list], tick: Callable[[list[Lane]], None] | None = None,
                 tick_every: int = 10_000) -> list[Lane]:
    """Like :func:`fold_lanes`, over lists of events (the reader's batches): what a pass costs
    per event is only the handing of it to the lanes that read it."""
    run = _Pass(lanes)
    next_tick = tick_every
    for batch in batches:
        while batch and run.next_start is not None and batch[-1].seq >= run.next_start:
            cut = _first_at(batch, run.next_start)
            if cut:
                run.fold(batch[:cut])
                batch = batch[cut:]
            run.join(batch[0].seq)
        if batch:
            run.fold(batch)
        if tick is not None and run.count >= next_tick:
            _settle(run.active, run.last, run.count)
            tick(lanes)
            next_tick = run.count + tick_every
    _settle(run.active, run.last, run.count)
    for lane in lanes:
        stopped = lane.outcome.stopped
        if not lane.halted and stopped is not None and stopped.seq <= lane.outcome.seq:
            lane.outcome.stopped = None  # a retried poison event went through after a fix
    return lanes


def _first_at(batch: list, seq: int) -> int:
    """The index of the first event of ``batch`` at or after ``seq``."""
    return next((n for n, event in enumerate(batch) if event.seq >= seq), len(batch))


class _Pass:
    """One pass's lanes: those waiting for their start, those folding, and how far it got."""

    def __init__(self, lanes: list[Lane]) -> None:
        self.waiting = sorted((lane for lane in lanes if not lane.halted), key=lambda lane: lane.start)
        self.active: list[Lane] = []
        self.routes = _Routes(self.active)
        self.next_start = self.waiting[0].start if self.waiting else None
        self.count = 0
        self.last: Any = None

    def join(self, seq: int) -> None:
        """Let the lanes that start at or before ``seq`` take part from here on."""
        while self.waiting and self.waiting[0].start <= seq:
            lane = self.waiting.pop(0)
            lane.counted = self.count
            self.active.append(lane)
        self.next_start = self.waiting[0].start if self.waiting else None
        self.routes = _Routes(self.active)

    def fold(self, batch: list) -> None:
        routes = self.routes
        table, default = routes.table, routes.default
        for event in batch:
            route = table.get(event.type, default)
            if route.__class__ is dict:
                action = event.payload.get("action")
                route = route.get(action, route[None]) if action.__class__ is str else route[None]
            for append in route:
                append(event)
        for lane in routes.everything:
            self._fold_lane(lane, batch, batch)
        for lane, events in routes.sinks:
            if events:
                self._fold_lane(lane, events, batch)
                events.clear()
        self.count += len(batch)
        self.last = batch[-1]

    def _fold_lane(self, lane: Lane, events: list, batch: list) -> None:
        """Apply ``events`` (those of ``batch`` the lane reads) to one lane, under its poison policy."""
        apply, state, restore = lane.apply, lane.state, lane.restore
        remaining = iter(events)
        handed = 0
        while True:
            event = None
            try:
                if lane.rewind:  # a rollback event first restores the state as of its target
                    for event in remaining:
                        handed += 1
                        before = state
                        if event.type == ROLLBACK_TYPE:
                            target = rollback_target(event)
                            if target is not None:
                                before = restore(target)
                        state = apply(before, event)
                else:
                    for event in remaining:
                        state = apply(state, event)
                    handed = len(events)
                break
            except Exception as exc:  # a poison event: the projection's policy decides
                if not lane.rewind:
                    handed = next(n for n, e in enumerate(events) if e is event) + 1
                lane.state = state
                if self._poisoned(lane, event, exc, batch):
                    lane.applied += handed
                    return
        lane.state = state
        lane.applied += handed

    def _poisoned(self, lane: Lane, event: Any, exc: Exception, batch: list) -> bool:
        """Record the poison event; return True when the lane stops here (it leaves the pass)."""
        outcome = lane.outcome
        letter = DeadLetter(event.seq, event.id, event.type, f"{type(exc).__name__}: {exc}")
        if not lane.stop:
            outcome.dead_letters.append(letter)
            outcome.dead_letter_count += 1
            if len(outcome.dead_letters) > MAX_DEAD_LETTERS:
                del outcome.dead_letters[0]
            return False
        # Stop at the event before the poison one (if this lane had got that far in the pass).
        at = next(n for n, e in enumerate(batch) if e is event)
        last = batch[at - 1] if at else self.last
        if last is not None and last.seq >= lane.start:
            _settle([lane], last, self.count + at)
        outcome.stopped = letter
        lane.halted = True
        self.active.remove(lane)
        self.routes = _Routes(self.active)  # for the next batches: this one's lists are made
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

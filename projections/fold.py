"""The engine's fold: ``project`` plus the poison-event policy and rollback rewinds. No I/O.

The caller supplies ``restore(seq)``, which returns a fresh state as of ``seq`` (the engine
reads the log for it), and an optional ``tick(state, seq)`` called every ``tick_every`` events
so it can snapshot a long fold or report progress.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable

import msgspec

from eventlog import Event

from .base import STOP, Projection, error_policy, is_rewindable, rollback_target

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


def fold(
    projection: Projection,
    outcome: FoldOutcome,
    events: Iterable[Event],
    restore: Callable[[int], Any],
    tick: Callable[[FoldOutcome], None] | None = None,
    tick_every: int = 10_000,
) -> FoldOutcome:
    """Fold ``events`` into ``outcome`` (updated in place and returned)."""
    apply = projection.apply
    stop = error_policy(projection) == STOP
    rewind = is_rewindable(projection)
    state, seq, head_id, count = outcome.state, outcome.seq, outcome.head_id, outcome.events
    next_tick = count + tick_every
    for event in events:
        try:
            if rewind and event.type == "checkpoint":
                target = rollback_target(event)
                if target is not None:
                    state = restore(target)
            state = apply(state, event)
        except Exception as exc:  # a poison event: the projection's policy decides
            letter = DeadLetter(event.seq, event.id, event.type, f"{type(exc).__name__}: {exc}")
            if stop:
                outcome.stopped = letter
                break
            _bury(outcome, letter)
        seq, head_id = event.seq, event.id
        count += 1
        if tick is not None and count >= next_tick:
            outcome.state, outcome.seq, outcome.head_id, outcome.events = state, seq, head_id, count
            tick(outcome)
            next_tick = count + tick_every
    outcome.state, outcome.seq, outcome.head_id, outcome.events = state, seq, head_id, count
    if outcome.stopped is not None and outcome.stopped.seq <= seq:
        outcome.stopped = None  # a retried poison event went through after a fix
    return outcome


def _bury(outcome: FoldOutcome, letter: DeadLetter) -> None:
    outcome.dead_letters.append(letter)
    outcome.dead_letter_count += 1
    if len(outcome.dead_letters) > MAX_DEAD_LETTERS:
        del outcome.dead_letters[0]

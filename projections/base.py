"""What a projection is: a name, a schema version, an initial state, a fold and its views.

A projection never does I/O in ``apply``: it reads only its state and the event, with no
clock, randomness or files. ``apply`` returns the new state; for speed it may update the state
it was given and return it, so a caller that needs the old state must keep its own copy (a
decoded snapshot is one). States are msgspec-encodable (Structs, dicts, lists, scalars) and
``state_type`` tells the engine how to decode a snapshot.

``write_views`` is the I/O edge: it writes the projection's materialized views (for example
`.loki/state/run/summary.json`) from a state. Views must be a function of the state alone, so that
rebuilding twice writes byte-identical files. Write each file whole (``atomic_write``): the
engine rewrites every view once per process start, so a view torn by a crash is repaired by
the next run, but a reader in between should see an old file or a new one.

Optional attributes lokilog honours (read with ``getattr``, so a projection that does not
declare them gets the defaults):

``version`` (schema version)
    Bump it whenever the state's shape or meaning changes: a snapshot written by another
    version is thrown away and the projection is rebuilt from seq 1, by itself.

``on_error = "dead_letter"`` (default) or ``"stop"``: the poison-event policy.
    An event whose ``apply`` raises is either skipped into the projection's dead-letter list
    (seq, id, type, error; shown by ``lokilog doctor`` and ``projections.engine.health``) and
    folding goes on, or the projection stops at the seq before it and stays there, retrying
    that event on every catch-up, until the projection (or the log) is fixed. ``apply`` must
    therefore check an event before changing the state: raise first, mutate second.

``rewindable = False`` (default) or ``True``: rollback semantics.
    Run state can be rewound to a checkpoint; ledgers (audit, cost, metrics) never go back.
    The rollback command appends an event of type ``checkpoint`` with payload
    ``{"action": "rolled_back", "checkpoint_id": ..., "to_seq": N, ...}``. For a rewindable
    projection the engine replaces the state, when it folds that event, by the state the
    projection had at seq N (itself computed with these rules, so rollbacks nest), and then
    applies the rollback event to that restored state, so the projection can record that a
    rollback happened; folding continues after it. A ledger folds the rollback event like any
    other. A rollback event whose ``to_seq`` is missing, not an integer, or not before the
    event itself is a poison event for rewindable projections.

``reads = None`` (default: every event) or the event types the projection reads.
    Each item is a type (``"task"``) or a type and one action (``"state.phase"``: type
    ``state`` with ``payload.action == "phase"``, split at the first dot). The engine hands
    ``apply`` only those events; the projection's position still moves past the others, so
    ``apply`` must not depend on seeing them. A rewindable projection also gets the rollback
    events it rewinds on, whether it names them or not.

``block_memo = None`` (default) or a string: what ``apply`` depends on besides the events.
    A projection with a small state and a costly fold may declare it (the audit chain does):
    rebuilds then take its state after each block of the log from a memo wherever the log's
    bytes up to that block are unchanged (``projections.engine.blocks``). The string (with
    ``version``) keys the memo, so it must change whenever a setting changes what ``apply`` does.

``views = ()``: the files or directories the views occupy, relative to `.loki/`.
    They come from the log, so checkpoints do not capture them and a rollback does not
    restore them: it rewrites them from the log instead.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Generic, Iterable, Protocol, TypeVar, runtime_checkable

from eventlog import Event

S = TypeVar("S")

#: The rollback contract shared with the checkpoint command (see the module docstring).
ROLLBACK_TYPE = "checkpoint"
ROLLBACK_ACTION = "rolled_back"

DEAD_LETTER = "dead_letter"
STOP = "stop"


@runtime_checkable
class Projection(Protocol, Generic[S]):
    """The contract every projection implements."""

    name: str
    version: int
    state_type: Any

    def initial(self) -> S:
        """Return the state before any event."""

    def apply(self, state: S, event: Event) -> S:
        """Fold one event into the state (no I/O; see the module docstring)."""

    def write_views(self, state: S, loki_dir: Path) -> None:
        """Write the materialized views of ``state`` under ``loki_dir``."""


def project(projection: Projection[S], events: Iterable[Event], state: S | None = None) -> S:
    """Fold events into a state, starting from ``state`` or the projection's initial state.

    This is the plain fold: no rollback handling and no poison policy (an error propagates).
    The engine's fold (``projections.engine.fold``) adds both.
    """
    current = projection.initial() if state is None else state
    apply = projection.apply
    for event in events:
        current = apply(current, event)
    return current


def is_rewindable(projection: Projection) -> bool:
    """Return whether the projection rewinds on rollback events (run state) or not (ledgers)."""
    return bool(getattr(projection, "rewindable", False))


def error_policy(projection: Projection) -> str:
    """Return the projection's poison-event policy: ``dead_letter`` or ``stop``."""
    policy = getattr(projection, "on_error", DEAD_LETTER)
    if policy not in (DEAD_LETTER, STOP):
        raise ValueError(f"projection {projection.name!r}: on_error must be 'dead_letter' or 'stop', not {policy!r}")
    return policy


def read_types(projection: Projection) -> dict[str, frozenset[str] | None] | None:
    """Return what the projection reads: None for every event, else type -> actions (None: all)."""
    reads = getattr(projection, "reads", None)
    if reads is None:
        return None
    if isinstance(reads, str):
        raise ValueError(f"projection {projection.name!r}: reads must be a list of types, not the string {reads!r}")
    out: dict[str, frozenset[str] | None] = {}
    for item in reads:
        kind, dot, action = item.partition(".")
        if not kind or (dot and not action):
            raise ValueError(f"projection {projection.name!r}: {item!r} in reads is not 'type' or 'type.action'")
        if not dot or out.get(kind, frozenset()) is None:
            out[kind] = None
        else:
            out[kind] = out.get(kind, frozenset()) | {action}
    return out


def rollback_target(event: Event) -> int | None:
    """Return ``to_seq`` when ``event`` is a rollback event, else None.

    Raises ValueError for a rollback event that names no usable seq.
    """
    if event.type != ROLLBACK_TYPE or event.payload.get("action") != ROLLBACK_ACTION:
        return None
    target = event.payload.get("to_seq")
    if type(target) is not int or target < 0 or target >= event.seq:
        raise ValueError(f"rollback event at seq {event.seq}: to_seq must be an integer in [0, {event.seq}), got {target!r}")
    return target

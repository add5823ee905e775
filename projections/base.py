"""What a projection is: a name, a schema version, an initial state, a fold and its views.

A projection never does I/O in ``apply``: it reads only its state and the event, with no
clock, randomness or files. ``apply`` returns the new state; for speed it may update the state
it was given and return it, so a caller that needs the old state must keep its own copy (a
decoded snapshot is one). States are msgspec-encodable (Structs, dicts, lists, scalars) and
``state_type`` tells the engine how to decode a snapshot.

``write_views`` is the I/O edge: it writes the projection's materialized views (for example
`.loki/state/run.json`) from a state. Views must be a function of the state alone, so that
rebuilding twice writes byte-identical files. A projection lists the files or directories its
views occupy, relative to `.loki/`, in an optional ``views`` attribute: they come from the log, so checkpoints do not
capture them and a rollback does not restore them (it rewrites them from the log instead).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Generic, Iterable, Protocol, TypeVar, runtime_checkable

from eventlog import Event

S = TypeVar("S")


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
    """Fold events into a state, starting from ``state`` or the projection's initial state."""
    current = projection.initial() if state is None else state
    apply = projection.apply
    for event in events:
        current = apply(current, event)
    return current

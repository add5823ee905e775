"""Running projections over the log: catching up, time travel and rebuilds.

This first version folds the whole log on every call; the engine keeps these signatures while
adding snapshots, incremental catch-up and atomic view swaps.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from eventlog import FileEventLog, parse_timestamp

from .base import Projection, project


@dataclass(frozen=True)
class ProjectionState:
    """A projection's state and the seq of the last event folded into it."""

    name: str
    seq: int
    state: Any


def catch_up(loki_dir: Path, projection: Projection, write_views: bool = True) -> ProjectionState:
    """Bring a projection up to the log's head, write its views, and return its state."""
    with FileEventLog(loki_dir) as log:
        state, seq = _fold(projection, log.read())
    if write_views:
        projection.write_views(state, Path(loki_dir))
    return ProjectionState(projection.name, seq, state)


def state_at(loki_dir: Path, projection: Projection, *, seq: int | None = None,
             timestamp: str | None = None) -> ProjectionState:
    """Return a projection's state as of a seq or a timestamp (inclusive), without writing views."""
    with FileEventLog(loki_dir) as log:
        events: Iterable = log.read(1, seq, ingest=False)
        if timestamp is not None:
            limit = parse_timestamp(timestamp)
            events = _until(events, limit)
        state, last = _fold(projection, events)
    return ProjectionState(projection.name, last, state)


def rebuild(loki_dir: Path, projections: Iterable[Projection]) -> list[ProjectionState]:
    """Rebuild projections from seq 1 and rewrite their views."""
    return [catch_up(loki_dir, p) for p in projections]


def _fold(projection: Projection, events: Iterable) -> tuple[Any, int]:
    last = 0

    def tracked():
        nonlocal last
        for event in events:
            last = event.seq
            yield event

    return project(projection, tracked()), last


def _until(events, limit):
    for event in events:
        if parse_timestamp(event.timestamp) > limit:
            return
        yield event


__all__ = ["ProjectionState", "catch_up", "rebuild", "state_at"]

"""A bounded memory of the event ids a ledger has counted, so a repeated id is counted once.

The log's idempotent append already refuses an id it stores, so a repeat reaching a fold is a
rare accident (a line written twice around a crash), and it lands close to the first copy.
Remembering every id ever counted made the cost and metrics states grow with the log; this
remembers at least the last :data:`WINDOW` ids (at most twice that), in two generations: when
the newer one is full it becomes the older one and the previous older one is forgotten.

What is remembered is a function of the ids folded alone (not of when snapshots were taken),
so a resumed fold and a fresh one remember the same ids; no event walks the memory.
"""
from __future__ import annotations

import msgspec

#: Ids remembered at least (a repeat after this many other counted ids is counted again).
WINDOW = 10_000


class RecentIds(msgspec.Struct):
    """The ids counted lately, in two generations."""

    newer: set[str] = msgspec.field(default_factory=set)
    older: set[str] = msgspec.field(default_factory=set)


def first_time(recent: RecentIds, event_id: str) -> bool:
    """Return True (and remember ``event_id``) when ``event_id`` is not among the recent ids."""
    if event_id in recent.newer or event_id in recent.older:
        return False
    recent.newer.add(event_id)
    if len(recent.newer) >= WINDOW:
        recent.older, recent.newer = recent.newer, set()
    return True

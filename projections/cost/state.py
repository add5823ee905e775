"""The cost ledger's state: token tallies by cell, and the layout of a cell. Shared by the fold,
the reports, the budgets and the views (which import this, never the projection, so that the
projection may import its views)."""
from __future__ import annotations

from typing import Any

import msgspec

from ..recent_ids import RecentIds

#: Order of the dimensions inside a cell key, and of the counters inside a cell.
DIMENSIONS = ("hour", "provider", "model", "agent", "session", "task")
EVENTS, INPUT, OUTPUT, CACHE_READ, CACHE_WRITE, INCOMPLETE, READ_EVENTS, WRITE_EVENTS = range(8)
#: Events with a reported cost: how many, their cost in nano-USD, and their tokens (not priced again).
REPORTED, REPORTED_NANOS, REP_INPUT, REP_OUTPUT, REP_READ, REP_WRITE = range(8, 14)
COUNTERS = 14
SEP = "\x1f"
UNKNOWN = "unknown"


class CostState(msgspec.Struct):
    """Token tallies by cell key, the usage ids already counted and the budget events seen."""

    cells: dict[str, list[int]] = msgspec.field(default_factory=dict)  # by the first five dimensions
    task_cells: dict[str, list[int]] = msgspec.field(default_factory=dict)  # by all six
    seen: RecentIds = msgspec.field(default_factory=RecentIds)  # usage ids counted lately
    fired: dict[str, dict[str, Any]] = msgspec.field(default_factory=dict)

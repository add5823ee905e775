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


#: The dimensions of a task cell in the ledger's state: a task's spend needs its model to be
#: priced (and its provider to be budgeted), nothing else. The hour, agent type and session of
#: a task's usage multiply the cells per task with the length of the run, so they are only
#: tallied by a detailed fold of the log, made for the breakdowns that ask for them.
TASK_DIMENSIONS = ("provider", "model", "task")


class CostState(msgspec.Struct):
    """Token tallies by cell key, the usage ids already counted and the budget events seen."""

    cells: dict[str, list[int]] = msgspec.field(default_factory=dict)  # by the first five dimensions
    # By TASK_DIMENSIONS; by all six in a detailed state (``detailed``), never snapshotted.
    task_cells: dict[str, list[int]] = msgspec.field(default_factory=dict)
    seen: RecentIds = msgspec.field(default_factory=RecentIds)  # usage ids counted lately
    fired: dict[str, dict[str, Any]] = msgspec.field(default_factory=dict)
    detailed: bool = False

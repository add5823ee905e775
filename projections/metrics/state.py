"""The metrics projection's state: exact counters, and the histogram buckets. The views import
this, never the projection, so that the projection may import its views."""
from __future__ import annotations

import msgspec

from ..recent_ids import RecentIds

#: Upper bounds (seconds) of the task-duration histogram buckets; +Inf is implicit.
DURATION_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200)


class MetricsState(msgspec.Struct):
    """Exact counters behind every exposed metric."""

    events: dict[str, int] = msgspec.field(default_factory=dict)  # "type\x1fsource" -> count
    durations: list[int] = msgspec.field(default_factory=lambda: [0] * (len(DURATION_BUCKETS) + 1))
    duration_sum_ms: int = 0
    tasks: dict[str, int] = msgspec.field(default_factory=dict)  # outcome -> count
    gate_pass: dict[str, int] = msgspec.field(default_factory=dict)
    gate_fail: dict[str, int] = msgspec.field(default_factory=dict)
    agents: dict[str, str] = msgspec.field(default_factory=dict)  # active agent id -> agent type
    tokens: dict[str, int] = msgspec.field(default_factory=dict)  # "model\x1fagent_type" -> tokens
    usage_seen: RecentIds = msgspec.field(default_factory=RecentIds)  # usage ids counted lately
    council_approved: int = 0
    council_votes: int = 0
    errors: dict[str, int] = msgspec.field(default_factory=dict)  # error kind -> count

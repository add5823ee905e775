"""How the event vocabulary is read by both folds: times, gate results, council verdicts."""
from __future__ import annotations

from functools import lru_cache
from typing import Any

from eventlog import Event, parse_timestamp

PASSED = frozenset({"pass", "passed", "ok", "success", "green"})
FAILED = frozenset({"fail", "failed", "error", "red"})
APPROVED = frozenset({"approve", "approved", "pass", "accept", "accepted"})
AGENT_STARTS = frozenset({"start", "spawn", "spawned", "started"})
AGENT_ENDS = frozenset({"stop", "stopped", "complete", "completed", "fail", "failed"})


def time_ns(event: Event) -> int:
    """The event's timestamp in Unix nanoseconds (exact to the microsecond)."""
    return _parse_ns(event.timestamp)


@lru_cache(maxsize=256)  # both folds ask for each event's time, one right after the other
def _parse_ns(timestamp: str) -> int:
    moment = parse_timestamp(timestamp)
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000


def text(value: Any) -> str | None:
    """A non-empty string, or a number as its text; None for anything else."""
    if isinstance(value, str):
        return value or None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return None


def number(value: Any) -> float:
    """A non-negative number from a number or numeric string (run.sh writes strings); else 0."""
    if isinstance(value, bool):
        return 0.0
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return 0.0
    return max(float(value), 0.0) if isinstance(value, (int, float)) else 0.0


def gate_result(event: Event) -> tuple[str, str]:
    """(gate name, lower-case result) of a ``quality.gate`` event."""
    gate = text(event.payload.get("gate")) or text(event.payload.get("name")) or "gate"
    return gate, (text(event.payload.get("result")) or "").lower()


def council_verdict(event: Event) -> tuple[str, bool]:
    """(lower-case verdict, approved) of a council review event."""
    verdict = (text(event.payload.get("verdict")) or event.action or "").lower()
    approved = event.payload.get("approved")
    return verdict, approved if isinstance(approved, bool) else verdict in APPROVED

"""The cost ledger: token usage tallied by hour, provider, model, agent type, session and task.

The state keeps token counts only, never money: prices are applied when a report is made
(`projections.cost_report`), so overriding a price in `.loki/config.yaml` needs no rebuild and
the tallies stay exact integers. One tally ("cell") per distinct combination of the six
dimensions lets every breakdown and every budget window be summed from the cells later, while
``apply`` does a single dictionary update per usage event.

A usage event is counted once per event id, however often it is replayed or re-ingested; a
missing or malformed token count marks the event incomplete (its cost becomes unknown) rather
than counting as zero.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec

from eventlog import Event, parse_timestamp

#: Order of the dimensions inside a cell key, and of the counters inside a cell.
DIMENSIONS = ("hour", "provider", "model", "agent", "session", "task")
EVENTS, INPUT, OUTPUT, CACHE_READ, CACHE_WRITE, INCOMPLETE, READ_EVENTS, WRITE_EVENTS = range(8)
SEP = "\x1f"
UNKNOWN = "unknown"

#: Alternative spellings of the token fields (the provider APIs' own names), tried in order.
_FIELDS = (
    ("input_tokens",),
    ("output_tokens",),
    ("cache_read_tokens", "cache_read_input_tokens"),
    ("cache_write_tokens", "cache_creation_input_tokens"),
)
_REQUIRED = (True, True, False, False)  # absent cache counts mean "no cache use"

ALERT_ACTIONS = ("alert", "budget_exceeded")


class CostState(msgspec.Struct):
    """Token tallies by cell key, the usage ids already counted and the budget events seen."""

    cells: dict[str, list[int]] = msgspec.field(default_factory=dict)
    seen: set[str] = msgspec.field(default_factory=set)
    fired: dict[str, dict[str, Any]] = msgspec.field(default_factory=dict)


class CostProjection:
    """Fold `metric.token_usage` and `cost.*` events into a :class:`CostState`."""

    name = "cost"
    version = 1
    state_type = CostState

    def initial(self) -> CostState:
        return CostState()

    def apply(self, state: CostState, event: Event) -> CostState:
        kind = event.type
        if kind == "metric":
            payload = event.payload
            if payload.get("action") == "token_usage" and event.id not in state.seen:
                state.seen.add(event.id)
                _count(state.cells, event, payload)
        elif kind == "cost":
            action = event.payload.get("action")
            if action in ALERT_ACTIONS:
                state.fired[event.id] = _alert_summary(event, action)
        return state

    def write_views(self, state: CostState, loki_dir: Path) -> None:
        from .cost_views import write_cost_views

        write_cost_views(state, Path(loki_dir))


def _count(cells: dict[str, list[int]], event: Event, payload: dict[str, Any]) -> None:
    key = SEP.join((
        hour_of(event.timestamp),
        _label(payload.get("provider")),
        _label(payload.get("model")),
        _label(payload.get("agent_type")),
        _label(payload.get("session_id")),
        _label(payload.get("task_id")),
    ))
    cell = cells.get(key)
    if cell is None:
        cell = cells[key] = [0, 0, 0, 0, 0, 0, 0, 0]
    cell[EVENTS] += 1
    complete = True
    for position, names in enumerate(_FIELDS, INPUT):
        value = payload.get(names[0])
        if value is None and len(names) > 1:
            value = payload.get(names[1])
        if value.__class__ is not int or value < 0:
            if value is None and not _REQUIRED[position - INPUT]:
                continue
            value = token_count(value)
            if value is None:
                complete = False
                continue
        if value:
            cell[position] += value
            # Which events used the cache: a model priced without a cache rate makes exactly
            # those events' cost unknown, not the whole cell's.
            if position == CACHE_READ:
                cell[READ_EVENTS] += 1
            elif position == CACHE_WRITE:
                cell[WRITE_EVENTS] += 1
    if not complete:
        cell[INCOMPLETE] += 1


def token_count(value: Any) -> int | None:
    """Return a non-negative whole token count, or None when the value is missing or invalid.

    Integral floats (TypeScript writers send ``10.0`` for ``10``) and digit strings count.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, float) and value.is_integer() and value >= 0:
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _label(value: Any) -> str:
    if value.__class__ is str:
        return value.replace(SEP, " ") if value else UNKNOWN
    return UNKNOWN if value is None else str(value).replace(SEP, " ")


def hour_of(timestamp: str) -> str:
    """Return the UTC hour of a timestamp as "YYYY-MM-DDTHH" ("unknown" when it does not parse)."""
    if len(timestamp) >= 20 and timestamp[-1] == "Z" and timestamp[10] == "T" and timestamp[13] == ":":
        return timestamp[:13]  # the log's own format is already UTC: skip parsing
    try:
        return parse_timestamp(timestamp).strftime("%Y-%m-%dT%H")
    except ValueError:
        return UNKNOWN


def _alert_summary(event: Event, action: str) -> dict[str, Any]:
    payload = event.payload
    keep = ("budget", "threshold", "window", "unit", "limit", "spent", "on_exceed")
    summary = {k: payload[k] for k in keep if k in payload}
    summary["kind"] = action
    summary["seq"] = event.seq
    summary["timestamp"] = event.timestamp
    return summary


def split_key(key: str) -> dict[str, str]:
    """Return the dimensions of a cell key by name."""
    return dict(zip(DIMENSIONS, key.split(SEP)))


__all__ = ["CostProjection", "CostState", "DIMENSIONS", "hour_of", "split_key", "token_count"]

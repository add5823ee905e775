"""The cost ledger: token usage tallied by hour, provider, model, agent type, session and task.

The state keeps token counts only, never money: prices are applied when a report is made
(`projections.cost.report`), so overriding a price in `.loki/config.yaml` needs no rebuild and
the tallies stay exact integers. One tally ("cell") per distinct combination of the dimensions
lets every breakdown and every budget window be summed from the cells later, while ``apply``
does two dictionary updates per usage event: one in ``cells`` (hour, provider, model, agent,
session: few, so views and budget checks stay cheap however many tasks a run has) and one in
``task_cells`` (provider, model and task: read only for breakdowns by task). A breakdown of
tasks by hour, day, agent or session, or of tasks since an hour, is summed from a detailed fold
of the log made for it (``CostProjection(detailed=True)``, see ``detail``): kept in the state,
those cells would grow with the length of the run rather than with its tasks.

A usage event is counted once per event id, however often it is replayed or re-ingested; a
missing or malformed token count marks the event incomplete (its cost becomes unknown) rather
than counting as zero.

A usage event may carry the cost its writer reported (`cost_usd`, Loki Mode's efficiency
records): a number there, even 0, is that event's cost, kept in exact nano-dollars, and its
tokens are tallied apart so they are not priced again. No `cost_usd` (or null) leaves the cost
to the price table. ``measured: false`` without a cost (a Loki Mode record whose every count is
zero) is an event whose cost is unknown, never $0.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from eventlog import Event, parse_timestamp
from ..recent_ids import first_time
from ..view_files import WrittenFiles

from .state import (  # re-exported: the state and the cell layout were defined here
    CACHE_READ, CACHE_WRITE, COUNTERS, DIMENSIONS, EVENTS, INCOMPLETE, INPUT, OUTPUT, READ_EVENTS, REP_INPUT,
    REP_OUTPUT, REP_READ, REP_WRITE, REPORTED, REPORTED_NANOS, SEP, UNKNOWN, WRITE_EVENTS, CostState,
)

#: Alternative spellings of the token fields (the provider APIs' own names), tried in order.
_FIELDS = (
    ("input_tokens",),
    ("output_tokens",),
    ("cache_read_tokens", "cache_read_input_tokens"),
    ("cache_write_tokens", "cache_creation_input_tokens", "cache_creation_tokens"),
)
_REQUIRED = (True, True, False, False)  # absent cache counts mean "no cache use"
_LABELS = ("provider", "model", "agent_type", "session_id", "task_id")

ALERT_ACTIONS = ("alert", "budget_exceeded")


class CostProjection:
    """Fold `metric.token_usage` and `cost.*` events into a :class:`CostState`."""

    name = "cost"
    # 3: the usage ids counted are remembered for a window, not forever (recent_ids.py).
    # 4: task cells by provider, model and task only (state.TASK_DIMENSIONS).
    version = 4
    state_type = CostState
    reads = ("metric.token_usage", "cost")

    def __init__(self, detailed: bool = False) -> None:
        # A detailed fold tallies tasks by every dimension (``report.needs_detail``); it is made
        # from the log for one report, never registered with the engine.
        self.detailed = detailed
        self._files = WrittenFiles()

    def initial(self) -> CostState:
        return CostState(detailed=self.detailed)

    def apply(self, state: CostState, event: Event) -> CostState:
        kind = event.type
        if kind == "metric":
            payload = event.payload
            if payload.get("action") == "token_usage" and first_time(state.seen, event.id):
                _count(state, event, payload)
        elif kind == "cost":
            action = event.payload.get("action")
            if action in ALERT_ACTIONS:
                state.fired[event.id] = _alert_summary(event, action)
        return state

    def write_views(self, state: CostState, loki_dir: Path) -> None:
        from .views import write_cost_views

        write_cost_views(state, Path(loki_dir), self._files)


def _count(state: CostState, event: Event, payload: dict[str, Any]) -> None:
    get = payload.get
    stamp = event.timestamp
    # The log's own timestamp format is already UTC: slicing it skips a parse per event.
    hour = stamp[:13] if len(stamp) >= 20 and stamp[-1] == "Z" and stamp[10] == "T" and stamp[13] == ":" else hour_of(stamp)
    provider, model, task = get("provider") or UNKNOWN, get("model") or UNKNOWN, get("task_id") or UNKNOWN
    # "\x1f" is SEP, written out: an f-string's literal parts cost nothing per event.
    coarse_key = f"{hour}\x1f{provider}\x1f{model}\x1f{get('agent_type') or UNKNOWN}\x1f{get('session_id') or UNKNOWN}"
    key = f"{coarse_key}\x1f{task}" if state.detailed else f"{provider}\x1f{model}\x1f{task}"
    cell = state.cells.get(coarse_key)
    task_cell = state.task_cells.get(key)
    if cell is None or task_cell is None:
        # Only a key made here is ever stored, with its labels cleaned of the separator: one
        # found is sound, so the labels are checked only when a cell is new.
        cell, task_cell = _cells(state, hour, get, coarse_key, key)
    if "cost_usd" in payload or get("measured") is False:
        delta = _reported_delta(payload)
        if delta is not None:
            _add(cell, task_cell, delta)
            return
    inp, out = get("input_tokens"), get("output_tokens")
    read, write = get("cache_read_tokens"), get("cache_write_tokens")
    if read is None:
        read = get("cache_read_input_tokens", 0)  # absent means no cache use, not unknown
    if write is None:
        write = get("cache_creation_input_tokens")
        if write is None:
            write = get("cache_creation_tokens", 0)
    if (inp.__class__ is int and out.__class__ is int and inp >= 0 and out >= 0
            and (read.__class__ is int and read >= 0) and (write.__class__ is int and write >= 0)):
        # The common shape, every count a plain non-negative int: no per-field dispatch, no list.
        cell[EVENTS] += 1
        cell[INPUT] += inp
        cell[OUTPUT] += out
        task_cell[EVENTS] += 1
        task_cell[INPUT] += inp
        task_cell[OUTPUT] += out
        if read:
            cell[CACHE_READ] += read
            cell[READ_EVENTS] += 1
            task_cell[CACHE_READ] += read
            task_cell[READ_EVENTS] += 1
        if write:
            cell[CACHE_WRITE] += write
            cell[WRITE_EVENTS] += 1
            task_cell[CACHE_WRITE] += write
            task_cell[WRITE_EVENTS] += 1
        return
    _add(cell, task_cell, _delta_slowly(get))


def _cells(state: CostState, hour: str, get, coarse_key: str, key: str) -> tuple[list[int], list[int]]:
    """The two cells of a usage event, made where they are new."""
    if coarse_key.count(SEP) != 4 or key.count(SEP) != (5 if state.detailed else 2):
        # A label holding the separator itself: rare, so checked after the fact.
        coarse_key, key = _clean_keys(state, hour, get)
    cell = state.cells.get(coarse_key)
    if cell is None:
        cell = state.cells[coarse_key] = [0] * COUNTERS
    task_cell = state.task_cells.get(key)
    if task_cell is None:
        task_cell = state.task_cells[key] = [0] * COUNTERS
    return cell, task_cell


def _clean_keys(state: CostState, hour: str, get) -> tuple[str, str]:
    """The cell keys with the separator replaced inside every label."""
    parts = [str(part).replace(SEP, " ") for part in (hour, *(get(n) or UNKNOWN for n in _LABELS))]
    coarse_key = SEP.join(parts[:5])
    if state.detailed:
        return coarse_key, SEP.join(parts)
    return coarse_key, SEP.join((parts[1], parts[2], parts[5]))


def _add(cell: list[int], task_cell: list[int], delta: list[int]) -> None:
    for position, value in enumerate(delta):
        if value:
            cell[position] += value
            task_cell[position] += value


def _reported_delta(payload: dict[str, Any]) -> list[int] | None:
    """The counters of an event with a reported cost, or an unmeasured one; None: price it."""
    delta = [0] * COUNTERS
    delta[EVENTS] = 1
    cost = payload.get("cost_usd")
    if cost is None:
        if payload.get("measured") is False:
            delta[INCOMPLETE] = 1  # nothing measured: the cost is unknown, not $0
            return delta
        return None  # no cost reported: priced from its tokens
    nanos = usd_nanos(cost)
    if nanos is None:
        delta[INCOMPLETE] = 1  # a cost that is not a number: unknown
        return delta
    delta[REPORTED] = 1
    delta[REPORTED_NANOS] = nanos
    get = payload.get
    for position, names in zip((REP_INPUT, REP_OUTPUT, REP_READ, REP_WRITE), _FIELDS):
        value = next((get(n) for n in names if get(n) is not None), 0)
        delta[position] = token_count(value) or 0
    return delta


def usd_nanos(value: Any) -> int | None:
    """A reported USD amount as whole nano-dollars (exact for up to 9 decimals), None if invalid."""
    from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        amount = Decimal(repr(value) if isinstance(value, float) else str(value).strip())
    except InvalidOperation:
        return None
    if not amount.is_finite() or amount < 0:
        return None
    return int((amount * 1_000_000_000).to_integral_value(ROUND_HALF_EVEN))


def _delta_slowly(get) -> list[int]:
    delta = [0] * COUNTERS
    delta[EVENTS] = 1
    for position, names in enumerate(_FIELDS, INPUT):
        value = next((get(n) for n in names if get(n) is not None), None)
        if value is None and not _REQUIRED[position - INPUT]:
            continue
        value = token_count(value)
        if value is None:
            delta[INCOMPLETE] = 1
            continue
        if value:
            delta[position] += value
            # Which events used the cache: a model priced without a cache rate makes exactly
            # those events' cost unknown, not the whole cell's.
            if position == CACHE_READ:
                delta[READ_EVENTS] = 1
            elif position == CACHE_WRITE:
                delta[WRITE_EVENTS] = 1
    return delta


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


__all__ = ["CostProjection", "CostState", "DIMENSIONS", "hour_of", "token_count"]

"""The metrics ledger: the reference system's Prometheus metrics, folded from the log.

Every value is a function of the events alone (no clock, no process state), so a rebuild gives
the same numbers and `lokilog metrics` agrees with any other replica of the log. Counts and sums
are exact integers; conversion to Prometheus floats happens only at exposition
(`subscribers.prometheus`).
"""
from __future__ import annotations

import bisect
from pathlib import Path
from typing import Any

from eventlog import Event

from ..cost.projection import SEP, token_count

from ..recent_ids import first_time
from ..view_files import WrittenFiles
from .state import DURATION_BUCKETS, MetricsState  # re-exported: defined here before

_BOUNDS_MS = tuple(b * 1000 for b in DURATION_BUCKETS)
_APPROVE = frozenset({"approve", "approved", "pass", "yes"})
_REJECT = frozenset({"reject", "rejected", "fail", "no", "request_changes"})


class MetricsProjection:
    """Fold every event into :class:`MetricsState`."""

    name = "metrics"
    # 2: the usage ids counted are remembered for a window, not forever (recent_ids.py).
    version = 2
    reads = None  # every event: it counts events by type and source
    state_type = MetricsState

    def __init__(self) -> None:
        self._files = WrittenFiles()

    def initial(self) -> MetricsState:
        return MetricsState()

    def apply(self, state: MetricsState, event: Event) -> MetricsState:
        kind = event.type
        key = kind + SEP + event.source
        counts = state.events
        counts[key] = counts.get(key, 0) + 1
        handler = _HANDLERS.get(kind)
        if handler is not None:
            handler(state, event, event.payload)
        return state

    def write_views(self, state: MetricsState, loki_dir: Path) -> None:
        from .views import write_metrics_views

        write_metrics_views(state, Path(loki_dir), self._files)


def _task(state: MetricsState, event: Event, payload: dict[str, Any]) -> None:
    outcome = payload.get("action")
    if outcome not in ("completed", "failed"):
        return
    state.tasks[outcome] = state.tasks.get(outcome, 0) + 1
    duration = payload.get("duration_ms")
    if duration.__class__ is not int or duration < 0:
        duration = token_count(duration)
    if duration is not None:
        state.durations[bisect.bisect_left(_BOUNDS_MS, duration)] += 1
        state.duration_sum_ms += duration


def _gate(state: MetricsState, event: Event, payload: dict[str, Any]) -> None:
    if payload.get("action") != "gate":
        return
    gate = str(payload.get("gate") or "unknown")
    result = payload.get("result")
    passed = result == "pass" if result is not None else payload.get("passed")
    if passed is True:
        state.gate_pass[gate] = state.gate_pass.get(gate, 0) + 1
    elif passed is False or result == "fail":
        state.gate_fail[gate] = state.gate_fail.get(gate, 0) + 1


def _agent(state: MetricsState, event: Event, payload: dict[str, Any]) -> None:
    action = payload.get("action")
    agent = payload.get("agent_id", event.stream)
    if agent is None:
        return
    if action in ("start", "spawn"):
        state.agents[str(agent)] = str(payload.get("agent_type") or "unknown")
    elif action in ("stop", "complete", "fail"):
        state.agents.pop(str(agent), None)


def _metric(state: MetricsState, event: Event, payload: dict[str, Any]) -> None:
    get = payload.get
    if get("action") != "token_usage" or not first_time(state.usage_seen, event.id):
        return
    inp, out, read, write = get("input_tokens"), get("output_tokens"), get("cache_read_tokens"), get("cache_write_tokens")
    if read is None:
        read = get("cache_read_input_tokens", 0)
    if write is None:
        write = get("cache_creation_input_tokens", 0)
    if (inp.__class__ is int and out.__class__ is int and read.__class__ is int and write.__class__ is int
            and inp >= 0 and out >= 0 and read >= 0 and write >= 0):
        tokens = inp + out + read + write  # the common shape: every count a plain non-negative int
    else:
        tokens = sum(token_count(value) or 0 for value in (inp, out, read, write) if value is not None)
    key = f"{get('model') or 'unknown'}\x1f{get('agent_type') or 'unknown'}"  # "\x1f": SEP
    tokens_by = state.tokens
    tokens_by[key] = tokens_by.get(key, 0) + tokens


def _council(state: MetricsState, event: Event, payload: dict[str, Any]) -> None:
    verdict = payload.get("approved")
    if verdict is None:
        text = str(payload.get("verdict", "")).lower()
        verdict = True if text in _APPROVE else False if text in _REJECT else None
    if verdict is True or verdict is False:
        state.council_votes += 1
        state.council_approved += verdict


def _error(state: MetricsState, event: Event, payload: dict[str, Any]) -> None:
    kind = str(payload.get("action") or "unknown")
    state.errors[kind] = state.errors.get(kind, 0) + 1


_HANDLERS = {
    "task": _task, "quality": _gate, "agent": _agent, "metric": _metric, "council": _council,
    "error": _error,
}


__all__ = ["DURATION_BUCKETS", "MetricsProjection", "MetricsState"]

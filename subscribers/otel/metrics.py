"""The reference system's six run metrics, folded from events (pure; cumulative since seq 1).

``loki_task_duration_seconds`` (histogram), ``loki_quality_gate_pass_total`` and
``loki_quality_gate_fail_total`` (by gate), ``loki_agent_active`` (gauge),
``loki_tokens_consumed_total`` (by model, agent type and token kind) and
``loki_council_approval_rate`` (gauge, 0-1). Timestamps are the events' own, so exporting the
same state twice sends identical points.
"""
from __future__ import annotations

import msgspec

from eventlog import Event

from .vocabulary import AGENT_ENDS, AGENT_STARTS, FAILED, PASSED, council_verdict, gate_result, number, text, time_ns

#: Histogram bucket bounds of task durations, in seconds.
DURATION_BOUNDS = (1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
TOKEN_KINDS = (("input_tokens", "input"), ("output_tokens", "output"),
               ("cache_read_tokens", "cache_read"), ("cache_write_tokens", "cache_write"),
               ("cache_creation_tokens", "cache_write"))
TYPES = frozenset({"task", "quality", "agent", "metric", "council"})


class MetricState(msgspec.Struct, kw_only=True):
    start_ns: int = 0
    time_ns: int = 0
    task_started_ns: dict[str, int] = {}
    duration_counts: list[int] = msgspec.field(default_factory=lambda: [0] * (len(DURATION_BOUNDS) + 1))
    duration_sum: float = 0.0
    duration_count: int = 0
    gate_pass: dict[str, int] = {}
    gate_fail: dict[str, int] = {}
    agents: dict[str, None] = {}
    tokens: dict[str, int] = {}      # "model\x1fagent_type\x1fkind" -> count
    council_votes: int = 0
    council_approved: int = 0


def apply(state: MetricState, event: Event) -> bool:
    """Fold one event; True when a metric changed."""
    handler = _HANDLERS.get(event.type)
    if handler is None or not handler(state, event):
        return False
    moment = time_ns(event)
    state.start_ns = state.start_ns or moment
    state.time_ns = max(state.time_ns, moment)
    return True


def token_key(model: str, agent_type: str, kind: str) -> str:
    return "\x1f".join((model, agent_type, kind))


def _on_task(state: MetricState, event: Event) -> bool:
    task_id = text(event.payload.get("task_id")) or event.stream
    action = event.action
    if not task_id:
        return False
    if action in ("started", "start", "claimed"):
        state.task_started_ns.setdefault(task_id, time_ns(event))
        return False
    if action not in ("completed", "complete", "failed", "fail"):
        return False
    started = state.task_started_ns.pop(task_id, None)
    if "duration_ms" in event.payload:
        seconds = number(event.payload.get("duration_ms")) / 1000
    elif started is not None:
        seconds = max(time_ns(event) - started, 0) / 1e9
    else:
        return False
    bucket = next((i for i, bound in enumerate(DURATION_BOUNDS) if seconds <= bound), len(DURATION_BOUNDS))
    state.duration_counts[bucket] += 1
    state.duration_sum += seconds
    state.duration_count += 1
    return True


def _on_quality(state: MetricState, event: Event) -> bool:
    if event.action != "gate":
        return False
    gate, result = gate_result(event)
    if result in PASSED:
        counts = state.gate_pass
    elif result in FAILED:
        counts = state.gate_fail
    else:
        return False  # skipped, not_run, inconclusive: neither a pass nor a failure
    counts[gate] = counts.get(gate, 0) + 1
    return True


def _on_agent(state: MetricState, event: Event) -> bool:
    agent_id = text(event.payload.get("agent_id")) or event.stream
    if not agent_id:
        return False
    action = event.action or ""
    if action in AGENT_STARTS:
        state.agents[agent_id] = None
        return True
    if action in AGENT_ENDS:
        return state.agents.pop(agent_id, 0) is None
    return False


def _on_metric(state: MetricState, event: Event) -> bool:
    if event.action != "token_usage":
        return False
    model = text(event.payload.get("model")) or "unknown"
    agent = text(event.payload.get("agent_type")) or "unknown"
    changed = False
    for field, kind in TOKEN_KINDS:
        count = int(number(event.payload.get(field)))
        if count:
            key = token_key(model, agent, kind)
            state.tokens[key] = state.tokens.get(key, 0) + count
            changed = True
    return changed


def _on_council(state: MetricState, event: Event) -> bool:
    _, approved = council_verdict(event)
    state.council_votes += 1
    state.council_approved += int(approved)
    return True


_HANDLERS = {"task": _on_task, "quality": _on_quality, "agent": _on_agent, "metric": _on_metric,
             "council": _on_council}

"""The usage ledgers (cost, metrics, outcomes) against plain oracles, for every shape of usage event.

Their folds take a fast path for the common shape (every count a plain non-negative int, labels
without the key separator) and fall back otherwise: whatever the shape, the state must be what the
rules documented in each module give, written here as slowly and plainly as possible. The engine
hands each ledger only the types and actions it declares in ``reads``: folded that way, a state
must equal the state of applying every event.
"""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from eventlog import Event
from projections.base import project
from projections.cost import CostProjection
from projections.cost.projection import hour_of, token_count, usd_nanos
from projections.cost.state import (
    CACHE_READ, CACHE_WRITE, COUNTERS, EVENTS, INCOMPLETE, INPUT, OUTPUT, READ_EVENTS, REP_INPUT, REPORTED,
    REPORTED_NANOS, SEP, WRITE_EVENTS,
)
from projections.engine.fold import FoldOutcome, fold
from projections.metrics import MetricsProjection
from projections.outcomes import OutcomesProjection

_COST_FIELDS = (("input_tokens",), ("output_tokens",), ("cache_read_tokens", "cache_read_input_tokens"),
                ("cache_write_tokens", "cache_creation_input_tokens", "cache_creation_tokens"))
_METRIC_FIELDS = (("input_tokens", "input_tokens"), ("output_tokens", "output_tokens"),
                  ("cache_read_tokens", "cache_read_input_tokens"), ("cache_write_tokens", "cache_creation_input_tokens"))
_LABELS = ("provider", "model", "agent_type", "session_id", "task_id")

counts = st.one_of(st.integers(0, 50_000), st.integers(-5, 5), st.booleans(), st.none(), st.sampled_from(
    [0.0, 12.0, 2.5, -1.0, "12", " 7 ", "x", "", [], {}, 10**20]))
labels = st.one_of(st.sampled_from(["anthropic", "claude-sonnet-4", "t-1", "t-2", "s1", "engineer"]), st.sampled_from(
    [None, "", "a\x1fb", "\x1f", "unknown", 5, True]))


@st.composite
def usage_payloads(draw) -> dict:
    payload = {"action": "token_usage"}
    for name in ("input_tokens", "output_tokens", "cache_read_tokens", "cache_read_input_tokens", "cache_write_tokens",
                 "cache_creation_input_tokens", "cache_creation_tokens"):
        if draw(st.booleans()) or name in ("input_tokens", "output_tokens") and draw(st.booleans()):
            payload[name] = draw(counts)
    for name in _LABELS:
        if draw(st.integers(0, 4)):
            payload[name] = draw(labels)
    if not draw(st.integers(0, 5)):
        payload["cost_usd"] = draw(st.sampled_from([None, 0, 0.25, "0.1", -1, "x", True, 3]))
    if not draw(st.integers(0, 8)):
        payload["measured"] = draw(st.sampled_from([False, True, None]))
    return payload


@st.composite
def usage_events(draw, size: int = 40) -> list[Event]:
    out = []
    for seq in range(1, draw(st.integers(1, size)) + 1):
        stamp = draw(st.sampled_from(["2026-02-21T10:00:00.000Z", "2026-02-21T11:59:59Z", "2026-02-21T10:30:00+02:00"]))
        event_id = draw(st.sampled_from(["u1", "u2", "u3", f"e{seq}", f"e{seq}"]))  # some ids repeat
        out.append(Event(seq=seq, id=event_id, type="metric", source="runner", timestamp=stamp, version="1.0",
                         payload=draw(usage_payloads())))
    return out


def _first(payload: dict, names: tuple[str, ...]):
    return next((payload[n] for n in names if payload.get(n) is not None), None)


def _cost_delta(payload: dict) -> list[int]:
    delta = [0] * COUNTERS
    delta[EVENTS] = 1
    if "cost_usd" in payload or payload.get("measured") is False:
        cost = payload.get("cost_usd")
        if cost is None and payload.get("measured") is False:
            delta[INCOMPLETE] = 1
            return delta
        if cost is not None:
            nanos = usd_nanos(cost)
            if nanos is None:
                delta[INCOMPLETE] = 1
                return delta
            delta[REPORTED], delta[REPORTED_NANOS] = 1, nanos
            for position, names in enumerate(_COST_FIELDS, REP_INPUT):
                delta[position] = token_count(_first(payload, names) or 0) or 0
            return delta
    values = {position: _first(payload, names) for position, names in zip((INPUT, OUTPUT, CACHE_READ, CACHE_WRITE),
                                                                          _COST_FIELDS)}
    found = {position: value for position, value in values.items()
             if value is not None or position in (INPUT, OUTPUT)}  # no cache count: no cache use
    tokens = {position: token_count(value) for position, value in found.items()}
    delta[INCOMPLETE] = int(None in tokens.values())
    for position, value in tokens.items():
        delta[position] = value or 0
    delta[READ_EVENTS], delta[WRITE_EVENTS] = int(bool(tokens.get(CACHE_READ))), int(bool(tokens.get(CACHE_WRITE)))
    return delta


def _cost_oracle(events: list[Event], detailed: bool) -> tuple[dict, dict]:
    cells: dict[str, list[int]] = {}
    task_cells: dict[str, list[int]] = {}
    seen: set[str] = set()
    for event in events:
        if event.id in seen:
            continue
        seen.add(event.id)
        p = event.payload
        parts = [str(part) for part in (hour_of(event.timestamp), *(p.get(n) or "unknown" for n in _LABELS))]
        if any(SEP in part for part in parts):  # a label holding the separator: it becomes a space in every label
            parts = [part.replace(SEP, " ") for part in parts]
        delta = _cost_delta(p)
        task_key = SEP.join(parts) if detailed else SEP.join((parts[1], parts[2], parts[5]))
        for table, key in ((cells, SEP.join(parts[:5])), (task_cells, task_key)):
            cell = table.setdefault(key, [0] * COUNTERS)
            for position, value in enumerate(delta):
                cell[position] += value
    return cells, task_cells


@settings(max_examples=150, deadline=None)
@given(usage_events())
def test_the_cost_cells_are_the_documented_tally_whatever_the_shape(events):
    for detailed in (False, True):
        state = project(CostProjection(detailed=detailed), events)
        assert (state.cells, state.task_cells) == _cost_oracle(events, detailed)


@settings(max_examples=150, deadline=None)
@given(usage_events())
def test_the_token_metrics_are_the_documented_sum_whatever_the_shape(events):
    tokens: dict[str, int] = {}
    seen: set[str] = set()
    for event in events:
        if event.id in seen:
            continue
        seen.add(event.id)
        p, total = event.payload, 0
        for name, alias in _METRIC_FIELDS:
            value = p.get(name) if p.get(name) is not None else p.get(alias)
            if value is not None:
                total += token_count(value) or 0
        key = str(p.get("model") or "unknown") + SEP + str(p.get("agent_type") or "unknown")
        tokens[key] = tokens.get(key, 0) + total
    assert project(MetricsProjection(), events).tokens == tokens


@settings(max_examples=150, deadline=None)
@given(usage_events())
def test_the_spend_of_each_task_is_the_documented_sum_whatever_the_shape(events):
    spend: dict[str, list[int]] = {}
    for event in events:  # not deduplicated by id: outcomes counts what it is handed
        p = event.payload
        task = p.get("task_id")
        if not isinstance(task, str) or not task:
            continue
        tokens = sum(v for v in (p.get(n) for n in ("input_tokens", "output_tokens", "cache_read_tokens",
                                                      "cache_write_tokens")) if type(v) is int and v > 0)
        cost = p.get("cost_usd")
        nanos = round(cost * 1e9) if type(cost) in (int, float) and cost > 0 else 0
        row = spend.setdefault(task, [0, 0])
        row[0] += tokens
        row[1] += nanos
    assert project(OutcomesProjection(), events).task_spend == spend


_TYPES = {"task": ["created", "claimed", "started", "completed", "failed", None], "metric": ["token_usage", "other"],
          "session": ["start", "end", "other"], "governance": ["gate_evaluated", "suggestion", "suggestion_applied", "x"],
          "healing": ["retry", "rollback", "escalated", "x"], "approval": ["granted", "denied", "requested"],
          "cost": ["alert", "budget_exceeded", "other"], "quality": ["gate", "other"], "state": ["phase"]}


@st.composite
def mixed_events(draw) -> list[Event]:
    out = []
    for seq in range(1, draw(st.integers(1, 60)) + 1):
        kind = draw(st.sampled_from(sorted(_TYPES)))
        payload = draw(usage_payloads()) if kind == "metric" else {}
        payload.update(action=draw(st.sampled_from(_TYPES[kind])), task_id=draw(st.sampled_from(["t1", "t2"])),
                       session_id=draw(st.sampled_from(["s1", "s2"])), gate="quality", verdict="pass", kind="mark_flaky",
                       approval_id="ap", suggestion_id="sg", duration_ms=1200, result="pass")
        out.append(Event(seq=seq, id=f"e{seq}", type=kind, source="runner", timestamp="2026-02-21T10:00:00Z",
                         version="1.0", stream=draw(st.sampled_from([None, "t1"])), payload=payload))
    return out


@settings(max_examples=100, deadline=None)
@given(mixed_events())
def test_folding_only_what_a_ledger_reads_equals_applying_every_event(events):
    for make in (CostProjection, MetricsProjection, OutcomesProjection):
        routed = fold(make(), FoldOutcome(make().initial(), 0), events, restore=lambda seq: None)
        assert routed.dead_letters == []
        assert routed.state == project(make(), events), make.__name__

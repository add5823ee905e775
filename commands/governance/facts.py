"""What the gates read from the log, folded in one pass. Pure: events in, facts out.

The *run* the gates judge is the current session: the events from the latest `session.start`
to the head (the whole log when no session started). Quality results, review votes, touched
resources, tenants and providers are taken from the run; the operational history (task
outcomes, rollbacks) from the whole log, because risk is about the recent past, not one run.
Everything kept is bounded: the last ``window`` task outcomes, the last 1000 rollbacks, and at
most 64 seqs per touched resource or provider.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any, Iterable

from eventlog import Event

_SEQS_KEPT = 64
_ROLLBACKS_KEPT = 1000
_APPROVE = frozenset({"approve", "approved", "pass", "yes", "lgtm"})
_REJECT = frozenset({"reject", "rejected", "fail", "no", "request_changes"})
_RESOURCE_KEYS = ("resource", "file_path", "path")
_TASK_OUTCOMES = {"completed": True, "complete": True, "done": True, "failed": False, "fail": False}


@dataclass
class QualityResult:
    """The latest `quality.gate` result of one gate name in the run."""

    gate: str
    result: str
    seq: int
    value: float | None = None  # coverage percent or lint error count, when the event gives one


@dataclass
class Vote:
    reviewer: str
    approved: bool
    seq: int


@dataclass
class Facts:
    """The log as the gates see it, up to ``head_seq``."""

    head_seq: int = 0
    run_start: int = 0
    quality: dict[str, QualityResult] = field(default_factory=dict)
    outcomes: deque = field(default_factory=lambda: deque(maxlen=20))  # (seq, succeeded)
    rollbacks: deque = field(default_factory=lambda: deque(maxlen=_ROLLBACKS_KEPT))  # seqs
    votes: dict[tuple[str | None, str], Vote] = field(default_factory=dict)  # (plan, reviewer) -> last vote
    resources: dict[str, list[int]] = field(default_factory=dict)
    tenants: dict[str, list[int]] = field(default_factory=dict)
    providers: dict[tuple[str, str | None], list[int]] = field(default_factory=dict)

    def recent_rollbacks(self) -> list[int]:
        """Rollbacks since the oldest task outcome in the window (all of them with no outcome yet)."""
        since = self.outcomes[0][0] if self.outcomes else 0
        return [seq for seq in self.rollbacks if seq >= since]


class FactsFold:
    """Folds events into :class:`Facts`; ``window`` is how many task outcomes count as recent."""

    def __init__(self, window: int = 20) -> None:
        self.window = window

    def initial(self) -> Facts:
        facts = Facts()
        facts.outcomes = deque(maxlen=self.window)
        return facts

    def apply(self, facts: Facts, event: Event) -> Facts:
        facts.head_seq = event.seq
        kind, payload = event.type, event.payload
        action = payload.get("action")
        if kind == "session" and action == "start":
            _new_run(facts, event.seq)
        elif kind == "task" and action in _TASK_OUTCOMES:
            facts.outcomes.append((event.seq, _TASK_OUTCOMES[action]))
        elif kind == "checkpoint" and action == "rolled_back":
            facts.rollbacks.append(event.seq)
        elif kind == "quality" and action == "gate":
            _quality(facts, event)
        elif kind == "council":
            _vote(facts, event)
        if kind not in ("governance", "approval", "residency"):
            _touched(facts, event)
        return facts


def fold(events: Iterable[Event], window: int = 20, facts: Facts | None = None) -> Facts:
    """Fold ``events`` (in seq order) into facts."""
    folder = FactsFold(window)
    current = folder.initial() if facts is None else facts
    for event in events:
        current = folder.apply(current, event)
    return current


def _new_run(facts: Facts, seq: int) -> None:
    facts.run_start = seq
    facts.quality.clear()
    facts.votes.clear()
    facts.resources.clear()
    facts.tenants.clear()
    facts.providers.clear()


def _quality(facts: Facts, event: Event) -> None:
    payload = event.payload
    gate = payload.get("gate") or payload.get("name")
    result = payload.get("result")
    if not isinstance(gate, str) or not isinstance(result, str):
        return
    facts.quality[gate] = QualityResult(gate, result.lower(), event.seq, _figure(payload))


def _figure(payload: dict[str, Any]) -> float | None:
    details = payload.get("details") if isinstance(payload.get("details"), dict) else {}
    for source in (payload, details):
        for key in ("value", "coverage", "percent", "errors", "lint_errors", "count"):
            value = source.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return float(value)
    return None


def _vote(facts: Facts, event: Event) -> None:
    payload = event.payload
    reviewer = payload.get("reviewer") or payload.get("by")
    if not isinstance(reviewer, str) or not reviewer:
        return
    approved = payload.get("approved")
    if not isinstance(approved, bool):
        verdict = str(payload.get("verdict") or payload.get("action") or "").lower()
        approved = True if verdict in _APPROVE else False if verdict in _REJECT else None
    if approved is None:
        return
    plan = payload.get("plan") if isinstance(payload.get("plan"), str) else None
    facts.votes[(plan, reviewer)] = Vote(reviewer, approved, event.seq)


def _touched(facts: Facts, event: Event) -> None:
    payload = event.payload
    for key in _RESOURCE_KEYS:
        value = payload.get(key)
        if isinstance(value, str) and value:
            _note(facts.resources, value, event.seq)
    listed = payload.get("resources")
    if isinstance(listed, list):
        for value in listed[:_SEQS_KEPT]:
            if isinstance(value, str) and value:
                _note(facts.resources, value, event.seq)
    tenant = payload.get("tenant") or payload.get("tenant_id")
    if isinstance(tenant, str) and tenant:
        _note(facts.tenants, tenant, event.seq)
    provider = payload.get("provider")
    if isinstance(provider, str) and provider:
        region = payload.get("region")
        _note(facts.providers, (provider, region if isinstance(region, str) else None), event.seq)


def _note(table: dict, key: Any, seq: int) -> None:
    seqs = table.setdefault(key, [])
    if len(seqs) < _SEQS_KEPT:
        seqs.append(seq)

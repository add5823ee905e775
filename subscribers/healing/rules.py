"""The healing rules: which failure gets which remedy. Pure functions, no I/O, no clock.

A failure (`task.failed` or `error.*`) is judged against what came before it in the log
(:class:`~subscribers.healing.history.History`), by these rules, first match wins:

1. **Policy denial** (permanent, critical): ``escalated``. A policy said no; retrying or rolling
   back cannot change that, a person must.
2. **No task** (an ``error.*`` that names no ``task_id``): ``skip``. There is nothing to retry or
   roll back; the event stays in the log and the audit trail.
3. **Transient** (a timeout, a rate limit, an unavailable service, or a failure of a gate the
   learning loop marked flaky): ``retry`` while the task has had fewer than ``max_attempts``
   retries, with exponential backoff (``backoff_base * 2 ** (attempt - 1)``, at most
   ``backoff_cap`` seconds); once they are spent, ``escalated``.
4. **Repeated identical failure** (permanent: the task failed before with the same signature,
   the error class and message with numbers and hex ids masked): ``rollback`` to the newest
   checkpoint taken before the first such failure (pre-rollback snapshots excluded); with no
   such checkpoint, ``escalated``.
5. **Optional task** (``payload.optional`` is true): ``skip``.
6. **Anything else, the first time**: one ``retry`` (``unclassified_attempts``, default 1) to
   tell a one-off from a real fault: the same failure again is rule 4, another one is rule 7.
7. **Anything else**: ``escalated``.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

from eventlog import Event
from eventlog.retry import exponential

RETRY, ROLLBACK, SKIP, ESCALATED = "retry", "rollback", "skip", "escalated"
TRANSIENT, PERMANENT, UNCLASSIFIED = "transient", "permanent", "unclassified"

_TRANSIENT = re.compile(
    r"time[d]?[ _-]?out|timeout|deadline exceeded|rate[ _-]?limit|too many requests|\b429\b|\b50[234]\b"
    r"|temporar(?:il)?y unavailable|service unavailable|connection (?:reset|refused)|econnreset|try again later",
    re.IGNORECASE,
)
_POLICY = re.compile(r"denied by policy|policy (?:denied|denial|violation)|policy\.deny", re.IGNORECASE)
_POLICY_CLASSES = frozenset({"PolicyDenied", "PolicyDeniedError", "PolicyViolation"})
_MASK = re.compile(r"0x[0-9a-f]+|\b[0-9a-f]{8,}\b|\d+", re.IGNORECASE)
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class HealingSettings:
    """The bounds of the rules (environment: see :func:`subscribers.healing.settings.from_env`)."""

    max_attempts: int = 3
    unclassified_attempts: int = 1
    backoff_base: float = 5.0
    backoff_cap: float = 300.0
    approval_timeout: int = 86_400


@dataclass(frozen=True)
class Failure:
    """What the rules look at in a failure event."""

    event_id: str
    seq: int
    type: str
    timestamp: str
    task_id: str | None
    error_class: str
    message: str
    gate: str | None = None
    optional: bool = False
    policy_denied: bool = False

    @property
    def signature(self) -> str:
        """The failure with its variable parts masked: two attempts failing alike match."""
        text = _SPACE.sub(" ", _MASK.sub("#", self.message.lower())).strip()[:200]
        return f"{self.error_class}:{text}"


@dataclass(frozen=True)
class Decision:
    """What healing does about one failure."""

    action: str
    classification: str
    reason: str
    attempt: int | None = None
    backoff_seconds: float | None = None
    checkpoint_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def is_failure(event: Event) -> bool:
    """Return whether healing acts on ``event``: `task.failed` or any `error.*`."""
    return event.type == "error" or (event.type == "task" and event.payload.get("action") == "failed")


def failure_of(event: Event) -> Failure:
    """Read the fields the rules use out of a failure event (missing ones become empty)."""
    payload = event.payload
    message = payload.get("message") if event.type == "error" else payload.get("error")
    message = message if isinstance(message, str) else ("" if message is None else str(message))
    error_class = payload.get("error_class")
    if not isinstance(error_class, str):
        error_class = f"{event.type}.{payload.get('action') or 'unknown'}"
    task_id = payload.get("task_id")
    if not isinstance(task_id, str) and event.type == "task":
        task_id = event.stream
    gate = payload.get("gate")
    denied = (error_class in _POLICY_CLASSES or payload.get("action") == "policy_denied"
              or payload.get("policy_decision") == "deny" or bool(_POLICY.search(message)))
    return Failure(event.id, event.seq, event.type, event.timestamp, task_id if isinstance(task_id, str) else None,
                   error_class, message, gate if isinstance(gate, str) else None, payload.get("optional") is True,
                   denied)


def classify(failure: Failure, flaky_gates: frozenset[str], seen_before: bool) -> str:
    """Return ``transient``, ``permanent`` or ``unclassified`` (rules 1, 3 and 4)."""
    if failure.policy_denied:
        return PERMANENT
    if _TRANSIENT.search(failure.message) or _TRANSIENT.search(failure.error_class):
        return TRANSIENT
    if failure.gate is not None and failure.gate in flaky_gates:
        return TRANSIENT
    return PERMANENT if seen_before else UNCLASSIFIED


def decide(failure: Failure, retries: int, seen_before: bool, flaky_gates: frozenset[str],
           checkpoint_id: str | None, settings: HealingSettings) -> Decision:
    """Apply the rules of the module docstring to one failure.

    ``retries`` is how many retries the task had since it last completed; ``seen_before`` says
    whether it failed with the same signature before; ``checkpoint_id`` is the rollback target.
    """
    kind = classify(failure, flaky_gates, seen_before)
    if failure.policy_denied:
        return Decision(ESCALATED, kind, "denied by policy: a person must decide")
    if failure.task_id is None:
        return Decision(SKIP, kind, "no task to retry or roll back")
    if kind == TRANSIENT:
        return _retry(failure, retries, settings.max_attempts, kind, settings)
    if kind == PERMANENT:
        if checkpoint_id is None:
            return Decision(ESCALATED, kind, "repeated identical failure and no checkpoint before it")
        return Decision(ROLLBACK, kind, "repeated identical failure", checkpoint_id=checkpoint_id)
    if failure.optional:
        return Decision(SKIP, kind, "optional task")
    return _retry(failure, retries, settings.unclassified_attempts, kind, settings)


def _retry(failure: Failure, retries: int, limit: int, kind: str, settings: HealingSettings) -> Decision:
    if retries >= limit:
        return Decision(ESCALATED, kind, f"{retries} retr{'y' if retries == 1 else 'ies'} spent (limit {limit})")
    attempt = retries + 1
    backoff = exponential(attempt - 1, settings.backoff_base, settings.backoff_cap)
    why = "transient failure" if kind == TRANSIENT else "first failure of its kind"
    return Decision(RETRY, kind, why, attempt=attempt, backoff_seconds=backoff)


def failure_key(event_id: str) -> str:
    """A short, id-safe key for a failure event's id: names its healing stream and events."""
    return hashlib.sha256(event_id.encode()).hexdigest()[:32]

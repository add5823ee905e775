"""What healing remembers between failures: a pure fold of the log up to the failure judged.

Per task: how many retries it had and which failure signatures it showed (with the seq of the
first), since it last completed; and the gates the learning loop marked flaky. The count of
retries comes from the rules themselves, not from the `healing.retry` events: a decision is
appended after the failure it answers, possibly after later failures, so counting the events
would make a decision depend on how far behind the process was. Folding the rules instead
makes every decision a function of the log prefix before its failure.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from eventlog import Event

from .rules import PERMANENT, RETRY, Decision, Failure, HealingSettings, classify, decide, failure_of, is_failure

FLAKY_KIND = "mark_flaky"


@dataclass
class TaskRecord:
    retries: int = 0
    signatures: dict[str, int] = field(default_factory=dict)  # signature -> seq of its first failure


@dataclass
class History:
    tasks: dict[str, TaskRecord] = field(default_factory=dict)
    flaky_gates: set[str] = field(default_factory=set)
    granted: set[str] = field(default_factory=set)  # approval ids granted (a suggestion counts only once granted)
    seq: int = 0


def judge(history: History, failure: Failure, settings: HealingSettings,
          checkpoint_before: Callable[[int], str | None] = lambda seq: None) -> Decision:
    """Decide on ``failure`` from the history before it (nothing is changed)."""
    record = history.tasks.get(failure.task_id or "", TaskRecord())
    first = record.signatures.get(failure.signature)
    flaky = frozenset(history.flaky_gates)
    target = None
    if classify(failure, flaky, first is not None) == PERMANENT and not failure.policy_denied:
        target = checkpoint_before(first if first is not None else failure.seq)  # only a rollback needs it
    return decide(failure, record.retries, first is not None, flaky, target, settings)


def observe(history: History, event: Event, settings: HealingSettings) -> History:
    """Fold one event into the history (in place; returns it)."""
    history.seq = event.seq
    payload = event.payload
    if event.type == "task" and payload.get("action") == "completed":
        history.tasks.pop(_task(event) or "", None)
    elif event.type == "approval" and payload.get("action") == "granted":
        if isinstance(payload.get("approval_id"), str):
            history.granted.add(payload["approval_id"])
    elif event.type == "governance" and payload.get("action") == "suggestion_applied":
        gate = payload.get("gate")
        # Fail closed, as the outcomes projection does: an applied mark whose approval was never granted is ignored.
        if payload.get("kind") == FLAKY_KIND and isinstance(gate, str) and payload.get("approval_id") in history.granted:
            history.flaky_gates.add(gate)
    elif is_failure(event):
        failure = failure_of(event)
        if failure.task_id is not None:
            decision = judge(history, failure, settings)
            record = history.tasks.setdefault(failure.task_id, TaskRecord())
            record.signatures.setdefault(failure.signature, event.seq)
            if decision.action == RETRY:
                record.retries += 1
    return history


def _task(event: Event) -> str | None:
    task_id = event.payload.get("task_id")
    return task_id if isinstance(task_id, str) else event.stream

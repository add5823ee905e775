"""The healing process manager: a subscriber whose decisions are events, each made once.

For every failure it records one decision, `healing.retry`, `healing.rollback`, `healing.skip`
or `healing.escalated`, as the first event of the failure's own stream `healing-<key>` (the key
is derived from the failure event's id), appended with ``expected_version=0`` and an id derived
from the same key. A replay, a restart after kill -9, or a second process therefore finds the
decision already there and carries *it* out instead of deciding again.

Carrying a decision out is idempotent too:
- a rollback goes through the checkpoint command with a `checkpoint.rolled_back` event id
  derived from the key; a rollback a crash interrupted is finished from its journal first, and
  one whose event is in the log is never run again;
- an escalation opens the approval `apr-heal-<key>` at version 0 of its approval stream, so a
  second attempt conflicts and changes nothing;
- a retry or a skip is the event itself: whoever runs tasks acts on it.
"""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eventlog import DuplicateIdError, Event, EventFilter, FileEventLog, SequenceConflictError, parse_timestamp
from eventlog.events import format_timestamp

from .history import History, judge, observe
from .rules import ESCALATED, ROLLBACK, Decision, Failure, HealingSettings, failure_key, failure_of, is_failure

if TYPE_CHECKING:
    from ..ledgers import LiveLedger

SOURCE = "healing"
_CHECKPOINTS = EventFilter.build(types=["checkpoint"])


def healing_stream(failure_id: str) -> str:
    return f"healing-{failure_key(failure_id)}"


def decision_event_id(failure_id: str) -> str:
    return f"heal-{failure_key(failure_id)}"


def rollback_event_id(failure_id: str) -> str:
    return f"heal-rb-{failure_key(failure_id)}"


def approval_id_for(failure_id: str) -> str:
    return f"apr-heal-{failure_key(failure_id)}"


class HealingManager:
    """The subscriber `lokilog watch` drives (name ``healing``, cursor `cursors/healing.json`)."""

    name = "healing"

    def __init__(self, loki_dir: Path, settings: HealingSettings | None = None) -> None:
        self.loki_dir = Path(loki_dir)
        self.settings = settings or HealingSettings()
        self.history: History | None = None
        self._checkpoints: LiveLedger | None = None

    def _checkpoint_before(self, seq: int) -> str | None:
        if self._checkpoints is None:
            from projections.checkpoints import CheckpointProjection

            from ..ledgers import LiveLedger

            self._checkpoints = LiveLedger(self.loki_dir, CheckpointProjection())
        return self._checkpoints.read(lambda _, state: checkpoint_before(state, seq))

    def handle(self, event: Event) -> None:
        """Fold ``event`` into the history; for a failure, record and carry out its decision first."""
        history = self._history_before(event)
        if is_failure(event):
            with FileEventLog(self.loki_dir) as log:
                seq, payload = self._decide(log, event, history)
                from commands.checkpoints.faults import fault_point

                fault_point("healing:after-decision")
                self._carry_out(log, seq, payload)
        observe(history, event, self.settings)

    # ------------------------------------------------------------------ deciding

    def _history_before(self, event: Event) -> History:
        # The cursor may start anywhere (a restart, a rewound cursor): fold the prefix once.
        if self.history is None or self.history.seq >= event.seq:
            self.history = History()
        if self.history.seq < event.seq - 1:
            with FileEventLog(self.loki_dir) as log:
                for earlier in log.read(self.history.seq + 1, event.seq - 1):
                    observe(self.history, earlier, self.settings)
        return self.history

    def _recorded(self, log: FileEventLog, event: Event) -> tuple[int, dict[str, Any]] | None:
        stream = healing_stream(event.id)
        if log.stream_version(stream) == 0:
            return None
        for found in log.read(event.seq + 1, filter=EventFilter.build(streams=[stream])):
            return found.seq, found.payload
        return None

    def _decide(self, log: FileEventLog, event: Event, history: History) -> tuple[int, dict[str, Any]]:
        failure = failure_of(event)
        decision = judge(history, failure, self.settings, self._checkpoint_before)
        payload = decision_payload(failure, decision, self.settings)
        # Decide, then append conditionally: the common case (a new failure) costs one append;
        # a redelivered one loses the race to its own earlier decision, which is then carried out.
        try:
            receipt = log.append(SOURCE, SOURCE, payload, id=decision_event_id(event.id),
                                 stream=healing_stream(event.id), expected_version=0,
                                 causation_id=event.id, correlation_id=event.correlation_id)
        except (SequenceConflictError, DuplicateIdError):
            receipt = None  # decided before (by this process before a restart, or another one)
        if receipt is None or receipt.status == "duplicate":
            found = self._recorded(log, event)
            if found is None:
                raise SequenceConflictError(healing_stream(event.id), 1, 0)
            return found
        return receipt.seq, payload

    # ------------------------------------------------------------------ acting

    def _carry_out(self, log: FileEventLog, seq: int, payload: dict[str, Any]) -> None:
        if payload.get("action") == ROLLBACK:
            self._rollback(log, seq, payload)
        elif payload.get("action") == ESCALATED:
            open_approval(log, payload, self.settings)

    def _rollback(self, log: FileEventLog, seq: int, payload: dict[str, Any]) -> None:
        from commands.checkpoints.rollback import finish_interrupted, rollback
        from commands.checkpoints.store import CheckpointError

        finish_interrupted(self.loki_dir)  # a rollback a kill interrupted is rolled forward, not redone
        event_id = payload["rollback_event_id"]
        if any(e.id == event_id for e in log.read(seq + 1, filter=_CHECKPOINTS)):
            return
        try:
            rollback(self.loki_dir, payload["checkpoint_id"], event_id=event_id)
        except CheckpointError as exc:  # e.g. the checkpoint was pruned since: a person decides
            open_approval(log, {**payload, "reason": f"rollback to {payload['checkpoint_id']} failed: {exc}"},
                          self.settings)


def decision_payload(failure: Failure, decision: Decision, settings: HealingSettings) -> dict[str, Any]:
    """The payload of a `healing.<action>` event."""
    payload: dict[str, Any] = {
        "action": decision.action, "failure_id": failure.event_id, "failure_seq": failure.seq,
        "failure_type": failure.type, "task_id": failure.task_id, "classification": decision.classification,
        "reason": decision.reason, "signature": failure.signature,
    }
    if failure.gate is not None:
        payload["gate"] = failure.gate
    if decision.attempt is not None:
        payload["attempt"] = decision.attempt
        payload["backoff_seconds"] = decision.backoff_seconds
        payload["not_before"] = _after(failure.timestamp, decision.backoff_seconds or 0.0)
    if decision.action == ROLLBACK:
        payload["checkpoint_id"] = decision.checkpoint_id
        payload["rollback_event_id"] = rollback_event_id(failure.event_id)
    if decision.action in (ROLLBACK, ESCALATED):
        payload["approval_id"] = approval_id_for(failure.event_id)
    return payload


def open_approval(log: FileEventLog, payload: dict[str, Any], settings: HealingSettings) -> None:
    """Open the approval a decision names (once: see :mod:`commands.policy.approval_requests`)."""
    from commands.policy.approval_requests import request_once

    request_once(log, payload["approval_id"], point="healing", rule="healing.escalated", reason=payload.get("reason"),
                 context={k: payload.get(k) for k in ("failure_id", "task_id", "classification", "signature")},
                 timeout_seconds=settings.approval_timeout, source=SOURCE, causation_id=payload.get("failure_id"))


def checkpoint_before(catalogue: dict[str, Any], seq: int) -> str | None:
    """The newest checkpoint in the catalogue recorded before ``seq`` that is not a pre-rollback snapshot."""
    records = [r for r in catalogue["checkpoints"].values()
               if r.get("kind") != "pre-rollback" and isinstance(r.get("seq"), int) and r["seq"] < seq]
    return max(records, key=lambda r: r["seq"])["id"] if records else None


def _after(timestamp: str, seconds: float) -> str | None:
    try:
        return format_timestamp(parse_timestamp(timestamp) + timedelta(seconds=seconds))
    except ValueError:
        return None

"""Approval gates on the write side: request, answer, expire and wait.

Each request is its own stream, ``approval-<id>``: ``approval.requested`` is appended at
version 0 and the one answer (``approval.granted`` or ``approval.denied``) at expected
version 1, so two people answering at once cannot both win; the loser gets a clear conflict.
What is pending is the ``approvals`` projection folded from the log, so it survives restarts.
"""
from __future__ import annotations

import os
import threading
from datetime import datetime, timedelta, timezone
from typing import Any, Mapping

from eventlog import EventFilter, InvalidEventError, Receipt, SequenceConflictError
from eventlog.events import format_timestamp, parse_timestamp
from projections.approvals import DENIED, GRANTED, PENDING, Approval, ApprovalsProjection, ApprovalsState
from projections.base import project

from .model import ApprovalSettings, Verdict

_APPROVAL_EVENTS = EventFilter.build(types=["approval"])


class ApprovalNotFoundError(InvalidEventError):
    """No approval with that id was ever requested."""


class ApprovalAlreadyDecidedError(SequenceConflictError):
    """The approval was answered already (by a person or by its timeout)."""

    def __init__(self, approval: Approval) -> None:
        how = "by timeout" if approval.auto else f"by {approval.decided_by or 'unknown'}"
        Exception.__init__(self, f"approval {approval.approval_id} was already {approval.status} {how} at {approval.decided_at}")
        self.stream, self.expected, self.actual = approval_stream(approval.approval_id), 1, 2
        self.approval = approval


def approval_stream(approval_id: str) -> str:
    return f"approval-{approval_id}"


def new_approval_id() -> str:
    return "apr-" + os.urandom(8).hex()


def _now(now: datetime | None) -> datetime:
    return now if now is not None else datetime.now(timezone.utc)


def request(
    log, verdict: Verdict, context: Mapping[str, Any], settings: ApprovalSettings, *,
    source: str = "policy", now: datetime | None = None, causation_id: str | None = None,
    correlation_id: str | None = None,
) -> tuple[str, Receipt, dict[str, Any]]:
    """Record ``approval.requested`` for a REQUIRE_APPROVAL verdict; return its id, receipt and payload."""
    approval_id = new_approval_id()
    payload = requested_payload(approval_id, verdict.point, verdict.rule, verdict.reason, context,
                                settings.timeout_seconds, settings.on_timeout, _now(now))
    receipt = log.append("approval", source, payload, stream=approval_stream(approval_id), expected_version=0,
                         causation_id=causation_id, correlation_id=correlation_id)
    return approval_id, receipt, payload


def requested_payload(
    approval_id: str, point: str, rule: str, reason: str | None, context: Mapping[str, Any],
    timeout_seconds: float, on_timeout: str, moment: datetime,
) -> dict[str, Any]:
    """The payload of ``approval.requested``: what `lokilog approvals`, `approve` and `deny` read."""
    return {
        "action": "requested", "approval_id": approval_id, "point": point, "rule": rule, "reason": reason,
        "context": dict(context), "requested_at": format_timestamp(moment), "timeout_seconds": timeout_seconds,
        "on_timeout": on_timeout, "expires_at": format_timestamp(moment + timedelta(seconds=timeout_seconds)),
    }


def record_notification(log, approval_id: str, delivery, *, source: str = "policy", causation_id: str | None = None) -> Receipt:
    """Record the outcome of a webhook delivery as ``approval.notified``."""
    payload = {"action": "notified", "approval_id": approval_id, **delivery.to_dict()}
    return log.append("approval", source, payload, causation_id=causation_id)


def approvals(log) -> ApprovalsState:
    """Fold the log into the approvals projection's state, every answered approval kept."""
    return project(ApprovalsProjection(resolved_kept=None), log.read(filter=_APPROVAL_EVENTS))


def answer(
    log, approval_id: str, granted: bool, *, by: str, reason: str | None = None, source: str = "cli",
    now: datetime | None = None,
) -> Receipt:
    """Record a person's answer; due timeouts are applied first, so a late answer loses to them."""
    expire_due(log, now)
    return _answer(log, _find(log, approval_id), granted, by=by, reason=reason, source=source, auto=False)


def _find(log, approval_id: str) -> Approval:
    found = approvals(log).approvals.get(approval_id)
    if found is None:
        raise ApprovalNotFoundError(f"no approval {approval_id!r} was requested (see `lokilog approvals`)")
    return found


def _answer(log, approval: Approval, granted: bool, *, by: str, reason: str | None, source: str, auto: bool) -> Receipt:
    if approval.status != PENDING:
        raise ApprovalAlreadyDecidedError(approval)
    payload: dict[str, Any] = {"action": GRANTED if granted else DENIED, "approval_id": approval.approval_id, "by": by}
    if reason:
        payload["reason"] = reason
    if auto:
        payload["auto"] = True
    try:
        return log.append("approval", source, payload, stream=approval_stream(approval.approval_id), expected_version=1)
    except SequenceConflictError:
        raise ApprovalAlreadyDecidedError(_find(log, approval.approval_id)) from None


def expire_due(log, now: datetime | None = None, *, source: str = "policy") -> list[Approval]:
    """Answer every pending approval past its ``expires_at`` as its ``on_timeout`` says; return them."""
    moment = _now(now)
    answered = []
    for approval in approvals(log).pending():
        if approval.expires_at is None or parse_timestamp(approval.expires_at) > moment:
            continue
        granted = approval.on_timeout == "approve"
        try:
            _answer(log, approval, granted, by="timeout", reason=f"no answer by {approval.expires_at}",
                    source=source, auto=True)
        except ApprovalAlreadyDecidedError:
            continue  # someone answered in the meantime: theirs stands
        answered.append(approval)
    return answered


def wait_for(log, approval_id: str, timeout: float, poll: float = 0.2) -> Approval:
    """Wait (bounded by ``timeout``) until an approval is answered or expires; return its latest state."""
    deadline = datetime.now(timezone.utc) + timedelta(seconds=timeout)
    pause = threading.Event()
    while True:
        expire_due(log)
        approval = _find(log, approval_id)
        remaining = (deadline - datetime.now(timezone.utc)).total_seconds()
        if approval.status != PENDING or remaining <= 0:
            return approval
        pause.wait(min(poll, remaining))

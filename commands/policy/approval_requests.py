"""Approvals opened on behalf of another event (a healing escalation, a learned suggestion).

Their ids are derived from that event, so the request is opened at most once: it is appended
at version 0 of its approval stream, and a second attempt (a replay, a restart) conflicts and
changes nothing. The payload is :func:`commands.policy.approvals.requested_payload`, as for every request, so
`lokilog approvals`, `approve` and `deny` treat them like any other.
"""
from __future__ import annotations

from typing import Any, Mapping

from eventlog import Receipt, SequenceConflictError, parse_timestamp
from eventlog.events import now_timestamp

from .approvals import approval_stream, requested_payload


def request_once(
    log, approval_id: str, *, point: str, rule: str, reason: str | None, context: Mapping[str, Any],
    timeout_seconds: int, source: str, on_timeout: str = "deny", causation_id: str | None = None,
) -> Receipt | None:
    """Append ``approval.requested`` for ``approval_id`` unless it was requested before; return its receipt."""
    body = requested_payload(approval_id, point, rule, reason, context, timeout_seconds, on_timeout,
                             parse_timestamp(now_timestamp()))
    try:
        return log.append("approval", source, body, stream=approval_stream(approval_id), expected_version=0,
                          causation_id=causation_id)
    except SequenceConflictError:
        return None  # requested already: once is enough

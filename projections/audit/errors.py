"""Errors of the audit trail (part of the one hierarchy rooted at EventLogError)."""
from __future__ import annotations

from eventlog import EventLogError


class AuditError(EventLogError):
    """Base of the audit trail's errors."""


class AuditChainError(AuditError):
    """The chain on disk cannot be extended safely (a malformed head); verify names the damage."""


class AuditDisabledError(AuditError):
    """The audit trail is turned off (LOKI_AUDIT_DISABLED=true)."""

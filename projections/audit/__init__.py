"""The audit trail: a hash-chained projection of the log that detects any tampering (docs/AUDIT.md)."""
from .entry import GENESIS, AuditEntry, Selection, body_for, entry_line
from .errors import AuditChainError, AuditDisabledError, AuditError
from .projection import AuditProjection, AuditState
from .settings import AuditSettings
from .verify import ChainPoint, VerifyResult, verify_lines

__all__ = [
    "GENESIS", "AuditChainError", "AuditDisabledError", "AuditEntry", "AuditError", "AuditProjection",
    "AuditSettings", "AuditState", "ChainPoint", "Selection", "VerifyResult", "body_for", "entry_line",
    "verify_lines",
]

"""HTTP errors of the control plane, and the one mapping from library errors to status codes."""
from __future__ import annotations

from eventlog.errors import (
    DuplicateIdError, EventLogError, InvalidEventError, LockTimeoutError, SequenceConflictError,
)


class ApiError(EventLogError):
    """A request the API refuses: its status, a short machine-readable code and a sentence."""

    def __init__(self, status: int, code: str, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail
        self.headers = headers or {}


def not_found(detail: str) -> ApiError:
    return ApiError(404, "not_found", detail)


def not_implemented(detail: str) -> ApiError:
    """A route Loki Mode's clients call that lokilog cannot back from the log: 501, never made-up data."""
    return ApiError(501, "not_implemented", detail)


def status_for(error: EventLogError) -> tuple[int, str]:
    """Map a library error to its HTTP status and code."""
    from commands.checkpoints.store import CheckpointNotFoundError
    from commands.policy.approvals import ApprovalNotFoundError

    from .token_store import TokenNotFoundError

    if isinstance(error, ApiError):
        return error.status, error.code
    if isinstance(error, (CheckpointNotFoundError, ApprovalNotFoundError, TokenNotFoundError)):
        return 404, "not_found"
    if isinstance(error, (SequenceConflictError, DuplicateIdError)):
        return 409, "conflict"
    if isinstance(error, InvalidEventError):
        return 400, "bad_request"
    if isinstance(error, LockTimeoutError):
        return 503, "busy"
    return 500, "internal"

"""Request and response shapes of the API (they generate docs/openapi.json)."""
from __future__ import annotations

from typing import Any, Optional

from pydantic import BaseModel, ConfigDict, Field


class ErrorBody(BaseModel):
    error: str = Field(description="A short machine-readable code: unauthorized, forbidden, not_found, ...")
    detail: str = Field(description="What was wrong, in one sentence.")
    status: int


class EventOut(BaseModel):
    """One stored event, as in the log (unknown top-level fields are kept)."""

    model_config = ConfigDict(extra="allow")
    seq: int
    id: str
    type: str
    source: str
    timestamp: str
    version: str
    stream: Optional[str] = None
    correlation_id: Optional[str] = None
    causation_id: Optional[str] = None
    payload: dict[str, Any]


class EventPage(BaseModel):
    events: list[EventOut]
    next_cursor: Optional[int] = Field(description="Pass as `cursor` for the next page; null at the end.")
    head_seq: int


class EmitRequest(BaseModel):
    type: str = Field(min_length=1, max_length=64)
    source: str = Field("api", min_length=1, max_length=64)
    payload: dict[str, Any] = Field(default_factory=dict)
    id: Optional[str] = Field(None, description="Reusing an id makes the emit idempotent.")
    stream: Optional[str] = None
    expected_version: Optional[int] = Field(None, ge=0, description="With `stream`: 409 if the stream moved on.")
    correlation_id: Optional[str] = None
    causation_id: Optional[str] = None
    timestamp: Optional[str] = None


class ReceiptOut(BaseModel):
    id: str
    seq: Optional[int]
    status: str = Field(description="appended, duplicate (nothing written) or pending (queued in the drop box)")
    stream_version: Optional[int] = None
    pending_file: Optional[str] = None


class StateOut(BaseModel):
    name: str
    seq: int
    state: Any


class DiffOut(BaseModel):
    name: str
    from_seq: int
    to_seq: int
    changes: list[dict[str, Any]]


class CheckpointCreate(BaseModel):
    message: str = Field("", max_length=2000)


class RollbackRequest(BaseModel):
    code: bool = Field(False, description="Also restore tracked files of the git working tree.")


class UndoCall(BaseModel):
    method: str
    path: str
    body: dict[str, Any]
    command: str


class RollbackOut(BaseModel):
    checkpoint_id: str
    pre_rollback_checkpoint: str
    to_seq: Optional[int]
    restored: list[str]
    removed: list[str]
    errors: list[str]
    code_restored: bool
    undo: UndoCall


class AnswerRequest(BaseModel):
    reason: Optional[str] = Field(None, max_length=2000)

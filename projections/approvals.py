"""Approval gates as a projection: every approval request and its answer, folded from the log.

Events (see docs/POLICY.md): ``approval.requested`` opens a request, ``approval.granted`` or
``approval.denied`` closes it (the first answer wins; later ones are ignored, as the writer's
expected-version check also ensures), ``approval.notified`` records a webhook delivery.
Pending approvals therefore survive restarts: they are whatever the log says is still open.

The engine's state keeps every pending approval (its view lists them) but only the newest
:data:`RESOLVED_KEPT` answered ones (between twice that and that many; the others are counted
in ``forgotten``), so that it does not grow with the log. The commands that show or judge
answered approvals (`lokilog approvals --all`, the governance gates, the serve routes) fold the
log themselves with ``ApprovalsProjection(resolved_kept=None)``, which keeps them all. A request
repeating the id of a forgotten approval would open it again; the writer refuses one (a
request is the first event of its approval's stream).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec

from eventlog import Event

from .view_files import WrittenFiles

PENDING, GRANTED, DENIED = "pending", "granted", "denied"
_encoder = msgspec.json.Encoder(order="deterministic")
#: Answered approvals the engine's state keeps (the newest), see the module docstring.
RESOLVED_KEPT = 1000


class Approval(msgspec.Struct, kw_only=True):
    """One approval request and, once answered, its answer."""

    approval_id: str
    status: str = PENDING
    point: str | None = None
    rule: str | None = None
    reason: str | None = None
    context: dict[str, Any] = msgspec.field(default_factory=dict)
    requested_seq: int = 0
    requested_at: str | None = None
    expires_at: str | None = None
    on_timeout: str = "deny"
    decided_seq: int | None = None
    decided_at: str | None = None
    decided_by: str | None = None
    decision_reason: str | None = None
    auto: bool = False
    notified: str | None = None


class ApprovalsState(msgspec.Struct):
    approvals: dict[str, Approval] = msgspec.field(default_factory=dict)
    resolved: list[str] = msgspec.field(default_factory=list)  # answered ids kept, oldest answer first
    forgotten: int = 0  # answered approvals dropped from the state (the log has them)
    changes: int = 0  # approval events that changed the state: the view is rewritten only when it moved

    def pending(self) -> list[Approval]:
        return sorted((a for a in self.approvals.values() if a.status == PENDING), key=lambda a: a.requested_seq)


class ApprovalsProjection:
    """The ``approvals`` projection; its view is `.loki/state/approvals.json` (pending requests)."""

    name = "approvals"
    # 2: only the newest answered approvals are kept; ``changes``.
    version = 2
    reads = ("approval",)
    state_type = ApprovalsState
    views = ("state/approvals.json",)

    def __init__(self, resolved_kept: int | None = RESOLVED_KEPT) -> None:
        self.resolved_kept = resolved_kept  # None: keep every answered approval (a command's own fold)
        self._files = WrittenFiles()
        self._pieces: dict[str, tuple[Approval, str | None, bytes]] = {}  # id -> (approval, notified, bytes)

    def initial(self) -> ApprovalsState:
        return ApprovalsState()

    def apply(self, state: ApprovalsState, event: Event) -> ApprovalsState:
        if event.type != "approval":
            return state
        payload = event.payload
        approval_id = payload.get("approval_id")
        if not isinstance(approval_id, str):
            return state
        action = payload.get("action")
        current = state.approvals.get(approval_id)
        if action == "requested" and current is None:
            state.approvals[approval_id] = _requested(approval_id, event)
        elif action in (GRANTED, DENIED) and current is not None and current.status == PENDING:
            current.status = action
            current.decided_seq = event.seq
            current.decided_at = event.timestamp
            current.decided_by = _text(payload.get("by"))
            current.decision_reason = _text(payload.get("reason"))
            current.auto = payload.get("auto") is True
            if self.resolved_kept is not None:
                _forget_old(state, approval_id, self.resolved_kept)
        elif action == "notified" and current is not None:
            current.notified = "delivered" if payload.get("delivered") is True else "failed"
        else:
            return state
        state.changes += 1
        return state

    def write_views(self, state: ApprovalsState, loki_dir: Path) -> None:
        target = Path(loki_dir) / "state" / "approvals.json"
        if self._files.current(target, state, state.changes):
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        pending = state.pending()
        body = b'{"pending":[' + b",".join([self._encoded(a) for a in pending]) + b"]}\n"
        if len(self._pieces) > 2 * len(pending) + 64:
            self._pieces = {a.approval_id: self._pieces[a.approval_id] for a in pending}
        # Not fsynced, like the other views: rebuilt from the log, rewritten at every engine start.
        self._files.write(target, body, durable=False, state=state, changes=state.changes)

    def _encoded(self, approval: Approval) -> bytes:
        """The approval as the view writes it, encoded once: a pending one changes only by a notice."""
        known = self._pieces.get(approval.approval_id)
        if known is not None and known[0] is approval and known[1] == approval.notified:
            return known[2]
        piece = _encoder.encode(approval)
        self._pieces[approval.approval_id] = (approval, approval.notified, piece)
        return piece


def _forget_old(state: ApprovalsState, approval_id: str, keep: int) -> None:
    """Remember ``approval_id`` as answered; past twice ``keep`` answered ones, drop all but the newest ``keep``."""
    state.resolved.append(approval_id)
    if len(state.resolved) > 2 * keep:  # a trim every ``keep`` answers: O(1) per event on average
        cut = len(state.resolved) - keep
        for old in state.resolved[:cut]:
            state.approvals.pop(old, None)
        state.resolved = state.resolved[cut:]
        state.forgotten += cut


def _requested(approval_id: str, event: Event) -> Approval:
    payload = event.payload
    context = payload.get("context")
    on_timeout = payload.get("on_timeout")
    return Approval(
        approval_id=approval_id, point=_text(payload.get("point")), rule=_text(payload.get("rule")),
        reason=_text(payload.get("reason")), context=context if isinstance(context, dict) else {},
        requested_seq=event.seq, requested_at=event.timestamp, expires_at=_text(payload.get("expires_at")),
        on_timeout=on_timeout if on_timeout in ("approve", "deny") else "deny",
    )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None

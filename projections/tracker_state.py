"""The trackers projection's state: links, tasks, desired updates (ops), and the outbox order.

The fold that fills it is `projections/trackers.py`; the sync subscribers read the outbox.
"""
from __future__ import annotations

import hashlib
import re
from functools import lru_cache
from typing import Any

import msgspec

TRACKERS = ("jira", "linear", "github")

#: Valid external references. Strict, because a ref ends up in a request path.
REF_PATTERNS = {
    "jira": re.compile(r"[A-Z][A-Z0-9_]{0,31}-[0-9]{1,12}"),
    "linear": re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,63}"),
    "github": re.compile(r"[A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_.-]{1,100}(#[0-9]{1,12}|@[0-9a-f]{7,40})"),
}

#: Task states in which the run's RARV phase shows in a status.
IN_PROGRESS = ("claimed", "started")


class Target(msgspec.Struct, frozen=True):
    tracker: str
    ref: str

    @property
    def key(self) -> str:
        return f"{self.tracker}:{self.ref}"

    @property
    def is_commit(self) -> bool:
        return self.tracker == "github" and "@" in self.ref

    @property
    def is_issue(self) -> bool:
        return not self.is_commit


class TaskInfo(msgspec.Struct):
    state: str = "created"
    title: str = ""
    parent: str | None = None
    phase: str | None = None
    #: seq from which run phases apply to ``phase`` (set when the task enters progress): a
    #: phase event does not visit every task; a task picks up the run's phase when next read.
    since: int = 0


class Op(msgspec.Struct):
    """One desired update: ``kind`` is status, comment or subtask.

    A status op in ``TrackerState.statuses`` is kept with an empty ``id``: most are superseded
    by the task's next move before anything reads them, so its id (a SHA-256) is derived only
    when it is read (:func:`outbox`, or a ``tracker.*`` event naming it).
    """

    id: str
    tracker: str
    kind: str
    ref: str
    task_id: str
    value: str
    origin_seq: int
    origin_id: str
    attempts: int = 0
    last_error: str | None = None
    last_failed_at: str | None = None
    gave_up: bool = False

    @property
    def target(self) -> Target:
        return Target(self.tracker, self.ref)


class TrackerState(msgspec.Struct):
    tasks: dict[str, TaskInfo] = msgspec.field(default_factory=dict)
    links: dict[str, list[Target]] = msgspec.field(default_factory=dict)
    #: op id -> the comment and sub-task ops not yet synced
    pending: dict[str, Op] = msgspec.field(default_factory=dict)
    synced: dict[str, int] = msgspec.field(default_factory=dict)
    #: target key -> the newest status op not yet synced, id left empty (older ones are superseded)
    statuses: dict[str, Op] = msgspec.field(default_factory=dict)
    #: target key -> the task state last synced to it
    synced_status: dict[str, str] = msgspec.field(default_factory=dict)
    #: target key -> what the tracker last reported through a webhook
    remote: dict[str, dict[str, Any]] = msgspec.field(default_factory=dict)
    webhooks: int = 0
    ignored_links: int = 0
    #: the run's RARV phase and the seq of the event that set it
    phase: str | None = None
    phase_seq: int = 0
    #: linked tasks in progress: the only ones a phase change gives work to
    active_linked: dict[str, None] = msgspec.field(default_factory=dict)


@lru_cache(maxsize=1 << 14)
def op_id(tracker: str, kind: str, ref: str, origin_id: str) -> str:
    """Derive an op's id from what caused it: replays derive the same id."""
    text = "\x1f".join((tracker, kind, ref, origin_id))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def with_id(op: Op) -> Op:
    """A status op of ``statuses`` as the outbox shows it: with its id."""
    return msgspec.structs.replace(op, id=op_id(op.tracker, op.kind, op.ref, op.origin_id))


def status_id(op: Op) -> str:
    """The id of a status op of ``statuses`` (kept there without it)."""
    return op_id(op.tracker, op.kind, op.ref, op.origin_id)


def outcome_id(kind: str, op: str, attempt: int = 0) -> str:
    """Derive the id of an outcome event (``synced``, ``failed``) of an op."""
    return f"tracker-{kind}-{op}" + (f"-{attempt}" if attempt else "")


def valid_target(tracker: Any, ref: Any) -> bool:
    pattern = REF_PATTERNS.get(tracker) if isinstance(tracker, str) else None
    return pattern is not None and isinstance(ref, str) and pattern.fullmatch(ref) is not None


def status_value(task: TaskInfo) -> str:
    """The desired status of a task's items: its state, with the RARV phase while in progress."""
    if task.state in IN_PROGRESS and task.phase:
        return f"{task.state}:{task.phase}"
    return task.state


def outbox(state: TrackerState, tracker: str | None = None, include_given_up: bool = False) -> list[Op]:
    """Return the ops still to send, oldest cause first."""
    statuses = (with_id(op) for op in state.statuses.values()
                if (tracker is None or op.tracker == tracker) and (include_given_up or not op.gave_up))
    # Sorted, not insertion order: a state resumed from a snapshot has its dicts re-ordered.
    return sorted(
        [*(op for op in state.pending.values()
           if (tracker is None or op.tracker == tracker) and (include_given_up or not op.gave_up)),
         *(op for op in statuses if op.id not in state.synced)],
        key=order_key,
    )


def order_key(op: Op) -> tuple[int, int, str]:
    """Where an op of the outbox (with its id) stands in it."""
    return op.origin_seq, _KIND_ORDER.get(op.kind, 3), op.id


#: Within one cause, the order the projection plans them in: status, then comment, then sub-task.
_KIND_ORDER = {"status": 0, "comment": 1, "subtask": 2}


__all__ = [
    "IN_PROGRESS", "Op", "REF_PATTERNS", "TRACKERS", "Target", "TaskInfo", "TrackerState", "op_id", "order_key",
    "outbox", "outcome_id", "status_id", "status_value", "valid_target", "with_id",
]

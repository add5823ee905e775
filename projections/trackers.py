"""Tracker syncs as a projection: what every linked Jira, Linear and GitHub item should show.

From task, quality and run events the fold derives *desired updates* (ops): an item's status,
a comment, a Jira sub-task. From ``tracker.*`` events it learns which ops already landed
(``tracker.synced``), which failed (``tracker.failed``), and what the trackers told us
(``tracker.webhook_received``). The ops not yet synced are the outbox. The fold knows nothing
of configuration or HTTP: the sync subscriber maps task states to tracker states and performs
the requests, so rebuilding this projection never posts anything.

Every op has an id derived from its tracker, kind, target and the event that caused it, so a
replay derives the same ids and the subscriber's outcome events (whose ids derive from the op
id) are idempotent appends.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from eventlog import Event
from eventlog.fsutil import atomic_write

from .tracker_state import (
    IN_PROGRESS as _IN_PROGRESS,
    REF_PATTERNS,
    TRACKERS,
    Op,
    Target,
    TaskInfo,
    TrackerState,
    op_id,
    outbox,
    outcome_id,
    status_id,
    status_value,
    valid_target,
)
from .tracker_view import TrackerView

#: Reference task actions (present tense) and ours (past tense) -> one task state.
_TASK_STATES = {
    "create": "created", "created": "created", "claim": "claimed", "claimed": "claimed",
    "start": "started", "started": "started", "complete": "completed", "completed": "completed",
    "fail": "failed", "failed": "failed",
}
_COMMENT_LIMIT = 4000


class TrackerProjection:
    """The desired and synced state of every linked tracker item (see the module docstring)."""

    name = "trackers"
    #: 3: status ops kept by target in ``statuses`` (ids derived when read), not in ``pending``
    version = 3
    state_type = TrackerState
    reads = ("task", "state.phase", "quality.gate", "tracker")

    def __init__(self) -> None:
        self._view = TrackerView()  # the view's pieces as last written, kept for the next write

    def initial(self) -> TrackerState:
        return TrackerState()

    def apply(self, state: TrackerState, event: Event) -> TrackerState:
        handler = _HANDLERS.get(event.type)
        if handler is not None:
            handler(state, event)
        return state

    def write_views(self, state: TrackerState, loki_dir: Path) -> None:
        """Write `.loki/trackers/state.json`: the outbox, failures and link counts."""
        out = Path(loki_dir) / "trackers"
        out.mkdir(parents=True, exist_ok=True)
        # Not fsynced, like the run state's views: rebuilt from the log, rewritten at every engine start.
        atomic_write(out / "state.json", self._view.chunks(state), durable=False)


# --------------------------------------------------------------------- task and run events


def _on_task(state: TrackerState, event: Event) -> None:
    payload = event.payload
    action = payload.get("action")
    new_state = _TASK_STATES.get(action) if action.__class__ is str else None
    task_id = payload.get("task_id") or event.stream
    if new_state is None or not isinstance(task_id, str) or not task_id:
        return
    tasks = state.tasks
    task = tasks.get(task_id)
    if task is None:
        task = tasks[task_id] = TaskInfo()
    elif state.phase_seq > task.since and task.state in _IN_PROGRESS:  # current_phase, inlined
        task.phase, task.since = state.phase, state.phase_seq
    task.state = new_state
    linked = task_id in state.links
    if new_state in _IN_PROGRESS:
        task.since = event.seq
        if linked:
            state.active_linked[task_id] = None
    else:
        if linked:
            state.active_linked.pop(task_id, None)
        if new_state == "created":
            _on_created(state, event, task_id, task)
        else:
            task.phase = None
    if not linked:  # the common case: nothing to desire of any tracker
        return
    _desire_status(state, task_id, event)
    if new_state == "failed":
        error = payload.get("error")
        _desire_comment(state, task_id, event, f"Task {task_id} failed" + (f": {error}" if error else "."))
    elif new_state == "completed":
        _desire_comment(state, task_id, event, f"Task {task_id} completed{_duration(event)}.")


def _on_created(state: TrackerState, event: Event, task_id: str, task: TaskInfo) -> None:
    title = event.payload.get("title")
    if isinstance(title, str):
        task.title = title
    parent = event.payload.get("parent_task_id", event.payload.get("parent"))
    if not isinstance(parent, str) or parent == task_id:
        return
    task.parent = parent
    for target in state.links.get(parent) or ():
        if target.tracker == "jira":
            _add_op(state, target, "subtask", task_id, task.title or task_id, event)


def _duration(event: Event) -> str:
    ms = event.payload.get("duration_ms")
    if isinstance(ms, (int, float)) and not isinstance(ms, bool):
        return f" in {ms / 1000:.1f} s"
    return ""


def _on_state(state: TrackerState, event: Event) -> None:
    phase = event.payload.get("phase")
    if event.action != "phase" or not isinstance(phase, str):
        return
    # Only linked tasks in progress get a new status now; the others read the run's phase
    # when they are next touched (``current_phase``), so this costs nothing per task.
    tasks, seq = state.tasks, event.seq
    for task_id in sorted(state.active_linked):
        task = tasks[task_id]
        if state.phase_seq > task.since and task.state in _IN_PROGRESS:  # current_phase, inlined
            task.phase = state.phase
        task.since = seq
        if task.phase != phase:
            task.phase = phase
            _desire_status(state, task_id, event)
    state.phase, state.phase_seq = phase, event.seq


def current_phase(state: TrackerState, task: TaskInfo) -> str | None:
    """Bring ``task.phase`` up to date: the run's phase if it changed while the task was in progress."""
    if task.state in _IN_PROGRESS and state.phase_seq > task.since:
        task.phase = state.phase
        task.since = state.phase_seq
    return task.phase


def _on_quality(state: TrackerState, event: Event) -> None:
    task_id = event.payload.get("task_id") or event.stream  # most gates stop at the next line
    if not isinstance(task_id, str) or not task_id or task_id not in state.links or event.action != "gate":
        return  # comments go to linked items only
    gate, result = event.payload.get("gate"), event.payload.get("result")
    text = f"Quality gate {gate}: {result} (task {task_id})"
    details = event.payload.get("details")
    if isinstance(details, str) and details:
        text += f"\n{details}"
    _desire_comment(state, task_id, event, text)


# ------------------------------------------------------------------------- tracker events


def _on_tracker(state: TrackerState, event: Event) -> None:
    handler = _TRACKER_ACTIONS.get(event.action or "")
    if handler is not None:
        handler(state, event)


def _on_linked(state: TrackerState, event: Event) -> None:
    p = event.payload
    task_id = p.get("task_id")
    if not isinstance(task_id, str) or not valid_target(p.get("tracker"), p.get("ref")):
        state.ignored_links += 1
        return
    _link(state, task_id, Target(p["tracker"], p["ref"]), event)


def _link(state: TrackerState, task_id: str, target: Target, event: Event) -> None:
    targets = state.links.setdefault(task_id, [])
    if target in targets:
        return
    targets.append(target)
    if task_id in state.tasks:
        if state.tasks[task_id].state in _IN_PROGRESS:
            state.active_linked[task_id] = None
        _desire_status(state, task_id, event, only=target)


def _on_synced(state: TrackerState, event: Event) -> None:
    p = event.payload
    named = p.get("op_id")
    if isinstance(named, str) and state.pending.pop(named, None) is None:
        key = _status_key(state, p, named)
        if key is not None:
            del state.statuses[key]
    state.synced[p.get("op_id", "")] = event.seq
    tracker, ref, kind = p.get("tracker"), p.get("ref"), p.get("kind")
    if not valid_target(tracker, ref):
        return
    target = Target(tracker, ref)
    if kind == "status" and isinstance(p.get("value"), str):
        state.synced_status[target.key] = p["value"]
    result = p.get("result") if isinstance(p.get("result"), dict) else {}
    if kind == "subtask" and valid_target("jira", result.get("key")) and isinstance(p.get("task_id"), str):
        _link(state, p["task_id"], Target("jira", result["key"]), event)


def _status_key(state: TrackerState, payload: dict[str, Any], named: str) -> str | None:
    """The target key of the pending status op with id ``named``, if there is one.

    Outcome events name the op's target, so this is one lookup; only an event without a
    valid one has every pending status looked at."""
    tracker, ref = payload.get("tracker"), payload.get("ref")
    if valid_target(tracker, ref):
        key = f"{tracker}:{ref}"
        op = state.statuses.get(key)
        return key if op is not None and status_id(op) == named else None
    return next((key for key, op in state.statuses.items() if status_id(op) == named), None)


def _on_failed(state: TrackerState, event: Event) -> None:
    named = event.payload.get("op_id", "")
    op = state.pending.get(named)
    if op is None and isinstance(named, str):
        key = _status_key(state, event.payload, named)
        op = None if key is None else state.statuses[key]
    if op is None:
        return
    op.attempts += 1
    error = event.payload.get("error")
    op.last_error = error if isinstance(error, str) else None
    op.last_failed_at = event.timestamp
    op.gave_up = bool(event.payload.get("gave_up"))


def _on_retry(state: TrackerState, event: Event) -> None:
    tracker, wanted = event.payload.get("tracker"), event.payload.get("op_id")
    for op in [*state.pending.values(), *state.statuses.values()]:
        if (tracker in (None, op.tracker)) and (wanted is None or wanted == (op.id or status_id(op))):
            op.gave_up = False
            op.attempts = 0
            op.last_failed_at = None


def _on_webhook(state: TrackerState, event: Event) -> None:
    p = event.payload
    state.webhooks += 1
    if valid_target(p.get("tracker"), p.get("ref")):
        key = Target(p["tracker"], p["ref"]).key
        state.remote[key] = {
            "event": p.get("event"), "status": p.get("status"), "seq": event.seq,
            "timestamp": event.timestamp,
        }


_TRACKER_ACTIONS = {
    "linked": _on_linked, "synced": _on_synced, "failed": _on_failed,
    "retry_requested": _on_retry, "webhook_received": _on_webhook,
}
_HANDLERS = {"task": _on_task, "state": _on_state, "quality": _on_quality, "tracker": _on_tracker}


# ------------------------------------------------------------------------------ desires


def _desire_status(state: TrackerState, task_id: str, event: Event, only: Target | None = None) -> None:
    task = state.tasks[task_id]
    current_phase(state, task)
    value = status_value(task)
    statuses = state.statuses
    for target in state.links.get(task_id, ()):
        if only is not None and target != only:
            continue
        tracker, ref = target.tracker, target.ref
        if tracker == "github" and "@" not in ref:
            continue  # issues and PRs get comments; commits get statuses
        key = f"{tracker}:{ref}"
        # Only the newest status is worth sending: it supersedes the one pending.
        if state.synced_status.get(key) == value:
            statuses.pop(key, None)
        else:
            statuses[key] = Op(id="", tracker=tracker, kind="status", ref=ref, task_id=task_id, value=value,
                               origin_seq=event.seq, origin_id=event.id)


def _desire_comment(state: TrackerState, task_id: str, event: Event, text: str) -> None:
    for target in state.links.get(task_id, ()):
        if target.is_issue:
            _add_op(state, target, "comment", task_id, text[:_COMMENT_LIMIT], event)


def _add_op(state: TrackerState, target: Target, kind: str, task_id: str, value: str, event: Event) -> Op:
    op = Op(id=op_id(target.tracker, kind, target.ref, event.id), tracker=target.tracker, kind=kind,
            ref=target.ref, task_id=task_id, value=value, origin_seq=event.seq, origin_id=event.id)
    if op.id not in state.synced:
        state.pending.setdefault(op.id, op)
    return state.pending.get(op.id, op)


__all__ = [
    "Op", "REF_PATTERNS", "Target", "TaskInfo", "TrackerProjection", "TrackerState", "TRACKERS", "current_phase",
    "op_id", "outbox", "outcome_id", "status_value", "valid_target",
]

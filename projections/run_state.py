"""The run-state projection: tasks by status with their history, the session and its RARV
phase, active agents and quality-gate results (docs/EVENTS.md: task.*, session.*,
state.phase, agent.*, quality.gate).

Views, under `.loki/state/run/` (a directory of its own: derived files that checkpoints need
not capture): ``summary.json`` (session, phase, agents, task counts and ids by status, gate
counts and the latest gate results) and ``tasks.json`` (every task with its status and recent
history, one line per task: see projections/run_state_views.py). Run state is rewindable: a
rollback to a checkpoint restores the state as of that checkpoint (see projections/base.py).
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable

import msgspec

from eventlog import Event
from eventlog.fsutil import atomic_write

from .run_state_views import TasksDocument

STATUSES = ("pending", "in_progress", "completed", "failed")

#: Where the views live, relative to `.loki/`.
VIEW_DIR = "state/run"

#: Transitions kept per task: its last attempt (created, claimed, started, completed or
#: failed; after a retry, the failure and the new attempt), so that the state depends on the
#: number of tasks, not on how long the run went on (at 5 000 tasks: 6 MB after 100 000 events
#: and after 1 000 000, against 11 and 51 MB keeping 50). Every transition stays in the log:
#: `lokilog replay --type task --where payload.task_id=<id>`.
HISTORY_LIMIT = 4

#: Quality-gate events the summary lists (the newest; every latest result per task and gate is
#: counted, and each task carries its own in tasks.json).
RECENT_GATES = 10

_TASK_ACTIONS = {
    "created": "pending", "create": "pending", "queued": "pending", "add": "pending",
    "claimed": "in_progress", "claim": "in_progress", "started": "in_progress", "start": "in_progress",
    "completed": "completed", "complete": "completed", "done": "completed",
    "failed": "failed", "fail": "failed",
}


# gc=False: these hold only strings and numbers (no cycles), and a long run keeps tens of
# thousands of them; untracked they cost 16 bytes less each and the collector never walks them.
class Transition(msgspec.Struct, array_like=True, gc=False):
    """One status change of a task: [seq, timestamp, status]."""

    seq: int
    at: str
    status: str


class Task(msgspec.Struct, kw_only=True):
    id: str
    status: str = "pending"
    #: The timestamp of the first task event that named it (its history keeps only the last few).
    created_at: str | None = None
    title: str | None = None
    priority: Any = None
    agent: str | None = None
    error: str | None = None
    duration_ms: Any = None
    #: The seq of the last event that changed the task: a task event, or a quality gate on it.
    updated_seq: int = 0
    gates: dict[str, str] = msgspec.field(default_factory=dict)
    history: list[Transition] = msgspec.field(default_factory=list)


class Session(msgspec.Struct, kw_only=True):
    id: str
    status: str = "running"
    started_at: str | None = None
    ended_at: str | None = None
    model: str | None = None
    provider: str | None = None
    run_id: str | None = None
    phase: str | None = None
    iteration: Any = None


class Agent(msgspec.Struct, kw_only=True, gc=False):
    id: str
    type: str | None = None
    since: str | None = None


class Gate(msgspec.Struct, kw_only=True, gc=False):
    gate: str
    result: str
    task_id: str | None = None
    seq: int = 0
    at: str | None = None


class Rollback(msgspec.Struct, kw_only=True):
    seq: int
    to_seq: int
    checkpoint_id: Any = None
    at: str | None = None


class RunState(msgspec.Struct, kw_only=True):
    seq: int = 0
    session: Session | None = None
    sessions: int = 0
    tasks: dict[str, Task] = msgspec.field(default_factory=dict)
    agents: dict[str, Agent] = msgspec.field(default_factory=dict)
    #: Gate results whose task has had no event yet, by task id ("" for none): {gate: result}.
    #: A task takes its own when it arrives; every other result lives in its task's ``gates``.
    early_gates: dict[str, dict[str, str]] = msgspec.field(default_factory=dict)
    gates_counted: int = 0  # latest results, one per task and gate (tasks' and early ones)
    gates_passed: int = 0  # how many of those are "pass"
    recent_gates: list[Gate] = msgspec.field(default_factory=list)  # the last RECENT_GATES, oldest first
    last_rollback: Rollback | None = None


class RunStateProjection:
    """Folds the run's lifecycle events into a :class:`RunState`."""

    name = "run-state"
    # 2: ``seq`` is the last event the run state reads, no longer the last event of the log.
    # 3: histories of 4 transitions, ``created_at``, gate counts and the recent gates in the
    #    state, gate results kept once (in their task); tasks.json one line per task;
    #    summary.json without every gate result.
    version = 3
    state_type = RunState
    reads = ("task", "session", "state.phase", "agent", "quality.gate", "checkpoint.rolled_back")
    rewindable = True
    on_error = "dead_letter"
    views = ("state/run",)

    def __init__(self) -> None:
        self._tasks_document = TasksDocument()  # re-encodes only the tasks that changed

    def initial(self) -> RunState:
        return RunState()

    def apply(self, state: RunState, event: Event) -> RunState:
        payload = event.payload
        handler = _HANDLERS.get(event.type, _NO_HANDLERS).get(payload.get("action"))
        if handler is not None:
            handler(state, event, payload)
        state.seq = event.seq
        return state

    def write_views(self, state: RunState, loki_dir: Path) -> None:
        directory = Path(loki_dir) / VIEW_DIR
        directory.mkdir(parents=True, exist_ok=True)
        # Not fsynced: views are rebuilt from the log, and every engine start rewrites them.
        # tasks.json first: it is the file readers poll for a new event.
        atomic_write(directory / "tasks.json", self._tasks_document.chunks(state), durable=False)
        atomic_write(directory / "summary.json", _pretty(summary(state)), durable=False)


# ------------------------------------------------------------------ the fold, by type

def _task_to(status: str) -> Callable[[RunState, Event, dict], None]:
    failed, limit = status == "failed", HISTORY_LIMIT  # one in three events is a task event: locals

    def handle(state: RunState, event: Event, payload: dict) -> None:
        task_id = payload.get("task_id") or event.stream
        if task_id.__class__ is not str or not task_id:
            raise ValueError(f"task.{payload.get('action')} without a task_id (payload or stream)")
        seq, timestamp = event.seq, event.timestamp
        task = state.tasks.get(task_id)
        if task is None:
            task = state.tasks[task_id] = Task(id=task_id, created_at=timestamp,
                                               gates=state.early_gates.pop(task_id, None) or {})
        task.status = status
        task.updated_seq = seq
        if "title" in payload:
            task.title = payload["title"]
        if "priority" in payload:
            task.priority = payload["priority"]
        if "duration_ms" in payload:
            task.duration_ms = payload["duration_ms"]
        agent = payload.get("agent")
        if agent.__class__ is str:
            task.agent = agent
        if failed:
            error = payload.get("error")
            task.error = None if error is None else str(error)
        elif task.error is not None:
            task.error = None
        history = task.history
        history.append(Transition(seq, timestamp, status))
        if len(history) > limit:
            del history[0]

    return handle


def _session(state: RunState, event: Event, payload: dict) -> None:
    session_id = payload.get("session_id") or event.stream
    if payload["action"] == "start":
        if type(session_id) is not str or not session_id:
            raise ValueError("session.start without a session_id (payload or stream)")
        session = Session(id=session_id, started_at=event.timestamp)
        _copy(payload, session, ("model", "provider", "run_id"))
        state.session = session
        state.sessions += 1
    elif state.session is not None and session_id in (None, state.session.id):
        status = payload.get("status")
        state.session.status = status if type(status) is str else "completed"
        state.session.ended_at = event.timestamp


def _phase(state: RunState, event: Event, payload: dict) -> None:
    phase = payload.get("phase")
    if type(phase) is not str:
        raise ValueError("state.phase without a phase")
    if state.session is None:
        state.session = Session(id=event.stream or "unknown", started_at=event.timestamp)
    state.session.phase = phase
    if "iteration" in payload:
        state.session.iteration = payload["iteration"]


def _agent_on(state: RunState, event: Event, payload: dict) -> None:
    agent_id = _agent_id(event, payload)
    kind = payload.get("agent_type")
    state.agents[agent_id] = Agent(id=agent_id, type=kind if type(kind) is str else None, since=event.timestamp)


def _agent_off(state: RunState, event: Event, payload: dict) -> None:
    state.agents.pop(_agent_id(event, payload), None)


def _agent_id(event: Event, payload: dict) -> str:
    agent_id = payload.get("agent_id") or event.stream
    if type(agent_id) is not str or not agent_id:
        raise ValueError(f"agent.{payload['action']} without an agent_id (payload or stream)")
    return agent_id


def _gate(state: RunState, event: Event, payload: dict) -> None:
    gate, result = payload.get("gate"), payload.get("result")
    if type(gate) is not str or type(result) is not str:
        raise ValueError("quality.gate needs string gate and result")
    task_id = payload.get("task_id") or event.stream
    if type(task_id) is not str:
        task_id = None
    # Interned: thousands of tasks share a few gate names and results (each decoded apart).
    gate, result, seq = sys.intern(gate), sys.intern(result), event.seq
    task = state.tasks.get(task_id) if task_id else None
    if task is not None:
        results = task.gates
        task.updated_seq = seq
    else:
        results = state.early_gates.setdefault(task_id or "", {})
    before = results.get(gate)
    results[gate] = result
    if before is None:
        state.gates_counted += 1
    if (result == "pass") is not (before == "pass"):
        state.gates_passed += 1 if result == "pass" else -1
    recent = state.recent_gates
    recent.append(Gate(gate=gate, result=result, task_id=task_id, seq=seq, at=event.timestamp))
    if len(recent) > RECENT_GATES:
        del recent[0]


def _rolled_back(state: RunState, event: Event, payload: dict) -> None:
    # The engine has already restored the state as of to_seq; record that it happened.
    state.last_rollback = Rollback(seq=event.seq, to_seq=payload["to_seq"],
                                   checkpoint_id=payload.get("checkpoint_id"), at=event.timestamp)


_NO_HANDLERS: dict = {}

#: The handler of each event type and action.
_HANDLERS: dict[str, dict[Any, Callable[[RunState, Event, dict], None]]] = {
    "task": {action: _task_to(status) for action, status in _TASK_ACTIONS.items()},
    "session": dict.fromkeys(("start", "end", "stop"), _session),
    "state": {"phase": _phase},
    "agent": {"start": _agent_on, "spawn": _agent_on, "stop": _agent_off, "exit": _agent_off},
    "quality": {"gate": _gate},
    "checkpoint": {"rolled_back": _rolled_back},
}


def _copy(payload: dict, target: Any, fields: tuple[str, ...]) -> None:
    for field in fields:
        if field in payload:
            setattr(target, field, payload[field])


# ------------------------------------------------------------------ views (pure)

def counts(state: RunState) -> dict[str, int]:
    """Return how many tasks are in each status."""
    out = dict.fromkeys(STATUSES, 0)
    for task in state.tasks.values():
        out[task.status] = out.get(task.status, 0) + 1
    return out


def _by_status(state: RunState) -> dict[str, list[str]]:
    by_status: dict[str, list[str]] = {s: [] for s in STATUSES}  # the fold sets no other status
    tasks = state.tasks
    for task_id in sorted(tasks):
        by_status[tasks[task_id].status].append(task_id)
    return by_status


def summary(state: RunState) -> dict[str, Any]:
    """Return the run's overview: `.loki/state/run/summary.json` and `lokilog status --json`."""
    by_status = _by_status(state)
    return {
        "seq": state.seq,
        "session": msgspec.to_builtins(state.session) if state.session else None,
        "sessions": state.sessions,
        "phase": state.session.phase if state.session else None,
        "agents": [msgspec.to_builtins(state.agents[k]) for k in sorted(state.agents)],
        "task_counts": {status: len(ids) for status, ids in by_status.items()},
        "tasks_by_status": by_status,
        "gates": {"passed": state.gates_passed, "failed": state.gates_counted - state.gates_passed,
                  "recent": msgspec.to_builtins(state.recent_gates)},
        "last_rollback": msgspec.to_builtins(state.last_rollback) if state.last_rollback else None,
    }


def tasks_view(state: RunState) -> dict[str, Any]:
    """Return every task with its history: what `.loki/state/run/tasks.json` decodes to."""
    return {"seq": state.seq, "tasks": [msgspec.to_builtins(state.tasks[k]) for k in sorted(state.tasks)]}


def _pretty(value: Any) -> bytes:
    # Sorted keys and a fixed indent: the same state always gives the same bytes.
    return msgspec.json.format(msgspec.json.encode(value, order="deterministic"), indent=2) + b"\n"

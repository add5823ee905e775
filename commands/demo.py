"""A small simulated run: the events a newcomer emits to see what lokilog makes of them. Pure."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from eventlog import NewEvent
from eventlog.events import format_timestamp

SESSION = "session-demo"


def simulated_run(start: datetime | None = None) -> list[NewEvent]:
    """Return a short run: a session, three tasks, token usage, gates, a checkpoint and an error."""
    clock = _Clock(start or datetime(2026, 2, 21, 10, 0, tzinfo=timezone.utc))
    events = [
        clock.event("session", "runner", "start", SESSION, session_id=SESSION, model="claude-sonnet-4", provider="anthropic"),
        clock.event("agent", "runner", "start", "agent-1", agent_id="agent-1", agent_type="engineer"),
        clock.event("state", "runner", "phase", SESSION, phase="REASON", iteration=1),
    ]
    for number, (title, fails) in enumerate([("Write the parser", False), ("Add tests", False), ("Deploy", True)], 1):
        events += _task(clock, f"task-00{number}", title, fails)
    events += [
        clock.event("checkpoint", "runner", "created", None, checkpoint_id="cp-demo-1", message="after tests",
                    log_seq=len(events)),
        clock.event("error", "runner", "crash", None, error_class="TimeoutError", message="deploy timed out", component="deployer"),
        clock.event("agent", "runner", "stop", "agent-1", agent_id="agent-1", agent_type="engineer"),
        clock.event("session", "runner", "end", SESSION, session_id=SESSION, status="failed"),
    ]
    return events


def _task(clock: "_Clock", task_id: str, title: str, fails: bool) -> list[NewEvent]:
    events = [
        clock.event("task", "runner", "created", task_id, task_id=task_id, title=title),
        clock.event("task", "runner", "started", task_id, task_id=task_id, agent="agent-1"),
        clock.event("state", "runner", "phase", SESSION, phase="ACT", iteration=1),
        clock.event("metric", "runner", "token_usage", None, model="claude-sonnet-4", provider="anthropic",
                    input_tokens=12000, output_tokens=3400, cache_read_tokens=8000, cache_write_tokens=1500,
                    agent_type="engineer", task_id=task_id, session_id=SESSION),
        clock.event("quality", "runner", "gate", task_id, gate="unit-tests", result="fail" if fails else "pass", task_id=task_id),
    ]
    outcome = "failed" if fails else "completed"
    extra = {"error": "unit tests failed"} if fails else {}
    events.append(clock.event("task", "runner", outcome, task_id, task_id=task_id, duration_ms=42000, **extra))
    return events


class _Clock:
    """Hands out increasing timestamps, so the demo is deterministic."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def event(self, type_: str, source: str, action: str, stream: str | None, **payload) -> NewEvent:
        self.now += timedelta(seconds=7)
        return NewEvent(type=type_, source=source, payload={"action": action, **payload},
                        stream=stream, timestamp=format_timestamp(self.now))

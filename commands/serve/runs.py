"""Loki Mode's view of a run, folded from the log: a run is a session, with its events in order. Pure."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from eventlog import Event

RUNNING, CANCELLED = "running", "cancelled"


@dataclass
class Run:
    id: str
    project_id: str
    status: str = RUNNING
    trigger: str | None = None
    started_at: str | None = None
    ended_at: str | None = None
    start_seq: int = 0
    end_seq: int | None = None
    config: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "project_id": self.project_id, "status": self.status, "trigger": self.trigger,
                "config": self.config, "started_at": self.started_at, "ended_at": self.ended_at,
                "start_seq": self.start_seq, "end_seq": self.end_seq}


def fold_runs(events: Iterable[Event], project_id: str) -> dict[str, Run]:
    """Every session of the log as a run, by id, in the order they started."""
    runs: dict[str, Run] = {}
    for event in events:
        if event.type != "session":
            continue
        session_id = event.payload.get("session_id") or event.stream
        if not isinstance(session_id, str) or not session_id:
            continue
        action = event.action
        if action == "start":
            config = {k: event.payload[k] for k in ("model", "provider", "run_id") if k in event.payload}
            runs[session_id] = Run(session_id, project_id, trigger=event.source, started_at=event.timestamp,
                                   start_seq=event.seq, config=config)
        elif action in ("end", "stop") and session_id in runs:
            run = runs[session_id]
            status = event.payload.get("status")
            run.status = status if isinstance(status, str) and status else "completed"
            run.ended_at, run.end_seq = event.timestamp, event.seq
    return runs


def timeline(run: Run, events: Iterable[Event]) -> list[dict[str, Any]]:
    """The run's events (its seq range), each with the RARV phase the run was in at that point."""
    phase = None
    out = []
    for event in events:
        if event.type == "state" and event.action == "phase" and isinstance(event.payload.get("phase"), str):
            phase = event.payload["phase"]
        if event.seq < run.start_seq or (run.end_seq is not None and event.seq > run.end_seq):
            continue
        out.append(run_event(run.id, event, phase))
    return out


def run_event(run_id: str, event: Event, phase: str | None) -> dict[str, Any]:
    """One event in the shape of Loki Mode's RunEvent."""
    kind = event.type if event.action is None else f"{event.type}.{event.action}"
    return {"id": event.id, "run_id": run_id, "event_type": kind, "phase": phase, "details": event.payload,
            "timestamp": event.timestamp, "seq": event.seq, "source": event.source}

"""Gate runs as a fold of their `governance.*` events: what `gates status` shows and a resume reads. Pure.

Each run is the stream ``governance-<run_id>``; its events, in order: ``run_started``, then per
pass one ``gate_evaluated`` per gate, then ``passed``, ``rejected``, or ``paused`` (an approval
opened) followed, once answered, by ``resumed`` and another pass, or by ``rejected``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from eventlog import Event, EventFilter

RUNNING, PAUSED, PASSED, REJECTED = "running", "paused", "passed", "rejected"
GOVERNANCE_EVENTS = EventFilter.build(types=["governance"])


def run_stream(run_id: str) -> str:
    return f"governance-{run_id}"


@dataclass
class GateRun:
    """One run of the pipeline as its events tell it."""

    run_id: str
    mode: str = "dev"
    plan: str = ""
    status: str = RUNNING
    started_seq: int = 0
    updated_seq: int = 0
    started_at: str | None = None
    version: int = 0                                      # events in its stream
    passes: int = 0
    gates: dict[str, dict[str, Any]] = field(default_factory=dict)  # gate -> latest gate_evaluated payload
    approved: dict[str, str] = field(default_factory=dict)         # gate -> who granted its PAUSE
    approval_id: str | None = None                        # the open approval while paused
    paused_gate: str | None = None
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id, "mode": self.mode, "plan": self.plan, "status": self.status,
            "started_seq": self.started_seq, "updated_seq": self.updated_seq, "started_at": self.started_at,
            "passes": self.passes, "approval_id": self.approval_id, "paused_gate": self.paused_gate,
            "approved": dict(self.approved), "reasons": list(self.reasons),
            "gates": {g: {"verdict": p.get("verdict"), "reasons": p.get("reasons", []), "seq": p.get("seq")}
                      for g, p in self.gates.items()},
        }


def fold_runs(events: Iterable[Event]) -> dict[str, GateRun]:
    """Fold governance events into runs by id, in the order they started."""
    runs: dict[str, GateRun] = {}
    for event in events:
        if event.type == "governance":
            _apply(runs, event)
    return runs


def _apply(runs: dict[str, GateRun], event: Event) -> None:
    payload = event.payload
    run_id, action = payload.get("run_id"), payload.get("action")
    if not isinstance(run_id, str):
        return
    if action == "run_started":
        if run_id in runs:
            return
        runs[run_id] = GateRun(run_id, mode=str(payload.get("mode", "dev")), plan=str(payload.get("plan", "")),
                               started_seq=event.seq, started_at=event.timestamp)
    run = runs.get(run_id)
    if run is None:
        return
    run.version += 1
    run.updated_seq = event.seq
    if action == "gate_evaluated" and isinstance(payload.get("gate"), str):
        run.gates[payload["gate"]] = {**payload, "seq": event.seq}
        run.passes = max(run.passes, int(payload.get("pass") or 1))
    elif action == "paused":
        run.status, run.approval_id, run.paused_gate = PAUSED, payload.get("approval_id"), payload.get("gate")
    elif action == "resumed":
        run.status, run.approval_id, run.paused_gate = RUNNING, None, None
        run.approved[str(payload.get("gate"))] = str(payload.get("by") or "unknown")
    elif action in (PASSED, REJECTED):
        run.status, run.approval_id = action, None
        reasons = payload.get("reasons")
        run.reasons = [r for r in reasons if isinstance(r, str)] if isinstance(reasons, list) else []

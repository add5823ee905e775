"""The outcomes state, the run classification and the summary view: pure functions."""
from __future__ import annotations

from typing import Any

import msgspec

from eventlog import Event

SUCCESS, FAILURE, PARTIAL = "success", "failure", "partial"
PROPOSED, APPROVED, DENIED, APPLIED = "proposed", "approved", "denied", "applied"


class OutcomesState(msgspec.Struct, kw_only=True):
    """Counters the learning rules read, and the suggestions with their status."""

    current_run: str | None = None
    runs: dict[str, dict[str, Any]] = msgspec.field(default_factory=dict)
    outcomes: dict[str, int] = msgspec.field(default_factory=dict)
    gates: dict[str, dict[str, dict[str, int]]] = msgspec.field(default_factory=dict)  # gate -> mode -> tally
    flips: dict[str, dict[str, int]] = msgspec.field(default_factory=dict)  # gate -> {rejects, flips}
    gate_last: dict[str, str] = msgspec.field(default_factory=dict)
    escapes: dict[str, dict[str, int]] = msgspec.field(default_factory=dict)  # gate -> {runs, escaped}
    retrying: dict[str, int] = msgspec.field(default_factory=dict)
    retries: dict[str, int] = msgspec.field(default_factory=lambda: {"attempts": 0, "episodes": 0, "succeeded": 0,
                                                                     "failed": 0})
    task_spend: dict[str, list[int]] = msgspec.field(default_factory=dict)  # task -> [tokens, nano-USD]
    success: dict[str, int] = msgspec.field(default_factory=lambda: {"tasks": 0, "tokens": 0, "cost_nanos": 0})
    suggestions: dict[str, dict[str, Any]] = msgspec.field(default_factory=dict)
    approval_index: dict[str, str] = msgspec.field(default_factory=dict)
    overrides: dict[str, dict[str, Any]] = msgspec.field(default_factory=dict)
    flaky_gates: list[str] = msgspec.field(default_factory=list)
    changes: int = 0  # events folded: the views are rewritten only when it moved

    def applied_view(self) -> dict[str, Any]:
        """The applied suggestions, in the form the gate pipeline reads."""
        return {"overrides": [self.overrides[k] for k in sorted(self.overrides)],
                "flaky_gates": sorted(self.flaky_gates)}


def classify_run(completed: int, failed: int, end_status: str | None) -> str:
    """A run that ended: ``success`` (no task left failed and the session did not fail),
    ``failure`` (no task completed, and some failed or the session failed), else ``partial``."""
    if failed == 0 and end_status != "failed":
        return SUCCESS
    if completed == 0:
        return FAILURE
    return PARTIAL


def gate_tally(state: OutcomesState, gate: str, mode: str) -> dict[str, int]:
    return state.gates.setdefault(gate, {}).setdefault(mode, {"evaluated": 0, "pass": 0, "pause": 0, "reject": 0})


def run_of(state: OutcomesState, event: Event) -> str | None:
    """The run an event belongs to: its own ``session_id``/``run_id``, else the run in progress."""
    return text(event.payload.get("session_id")) or text(event.payload.get("run_id")) or state.current_run


def text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def summary(state: OutcomesState) -> dict[str, Any]:
    """The summary view: every pattern the rules look at, as numbers a person can read."""
    gates = {gate: {mode: {**tally, "failure_rate": rate(tally["reject"], tally["evaluated"])}
                    for mode, tally in modes.items()} for gate, modes in state.gates.items()}
    flaky = {gate: {**f, "flip_rate": rate(f["flips"], f["rejects"])} for gate, f in state.flips.items()}
    escapes = {gate: {**e, "escape_rate": rate(e["escaped"], e["runs"])} for gate, e in state.escapes.items()}
    done = state.success
    return {
        "runs": dict(state.outcomes), "gates": gates, "flakiness": flaky, "escapes": escapes,
        "retries": {**state.retries, "success_rate": rate(state.retries["succeeded"], state.retries["episodes"])},
        "successful_tasks": {
            "tasks": done["tasks"], "tokens_per_task": rate(done["tokens"], done["tasks"]),
            "reported_usd_per_task": rate(done["cost_nanos"], done["tasks"] * 10**9),
        },
        "suggestions": [state.suggestions[k] for k in sorted(state.suggestions)],
        "applied": state.applied_view(),
    }

"""The outcomes projection: how runs ended, what patterns they show, and the applied suggestions.

A ledger (never rewound): what happened stays learned even when run state is rolled back.
Every event costs O(1): counters are updated where the event lands, never recomputed by
walking runs or tasks.

Views:
- `.loki/state/outcomes/applied.json`: ``{"overrides": [{"gate", "key", "value", "suggestion_id"}],
  "flaky_gates": [...]}``, the suggestions applied through an approval; the gate pipeline
  reads it before each run;
- `.loki/state/outcomes/summary.json`: run outcomes, gate rates, flaky candidates, retry
  success, cost per successful task, and every suggestion with its status.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec

from eventlog import Event

from ..view_files import WrittenFiles

from .state import (
    APPLIED, APPROVED, DENIED, OutcomesState, classify_run, gate_tally, run_of, summary, text,
)

APPLIED_VIEW = Path("state") / "outcomes" / "applied.json"
SUMMARY_VIEW = Path("state") / "outcomes" / "summary.json"
_VERDICTS = ("pass", "pause", "reject")


class OutcomesProjection:
    name = "outcomes"
    # 2: ``changes``.
    version = 2
    # The actions it handles (``_HANDLERS``), so that the engine hands it nothing else: three
    # task events in four (created, claimed, started) never reach ``apply``.
    reads = ("session.start", "session.end", "task.completed", "task.failed", "governance.gate_evaluated",
             "governance.suggestion", "governance.suggestion_applied", "healing.retry", "healing.rollback",
             "healing.escalated", "approval.granted", "approval.denied", "metric.token_usage")
    state_type = OutcomesState
    views = ("state/outcomes",)

    def __init__(self) -> None:
        self._files = WrittenFiles()

    def initial(self) -> OutcomesState:
        return OutcomesState()

    def apply(self, state: OutcomesState, event: Event) -> OutcomesState:
        handlers = _HANDLERS.get(event.type)  # by type, then action: no key tuple per event
        if handlers is not None:
            handler = handlers.get(event.payload.get("action"))
            if handler is not None:
                handler(state, event)
                state.changes += 1
        return state

    def write_views(self, state: OutcomesState, loki_dir: Path) -> None:
        root = Path(loki_dir)
        for view, body in ((APPLIED_VIEW, OutcomesState.applied_view), (SUMMARY_VIEW, summary)):
            path = root / view
            if self._files.current(path, state, state.changes):
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            data = msgspec.json.encode(body(state), order="deterministic") + b"\n"
            self._files.write(path, data, durable=False, state=state, changes=state.changes)


# ---------------------------------------------------------------------- runs and tasks

def _session_start(state: OutcomesState, event: Event) -> None:
    run_id = text(event.payload.get("session_id")) or event.stream or event.id
    state.current_run = run_id
    state.runs.setdefault(run_id, {"status": "open", "completed": 0, "failed": 0, "tasks": {}, "passed_gates": []})


def _session_end(state: OutcomesState, event: Event) -> None:
    run_id = text(event.payload.get("session_id")) or state.current_run
    run = state.runs.get(run_id or "")
    if run is None or run["status"] != "open":
        return
    run["status"] = classify_run(run["completed"], run["failed"], text(event.payload.get("status")))
    state.outcomes[run["status"]] = state.outcomes.get(run["status"], 0) + 1
    for gate in run["passed_gates"]:  # at most one per gate: a constant bound
        tally = state.escapes.setdefault(gate, {"runs": 0, "escaped": 0})
        tally["runs"] += 1
        tally["escaped"] += run["status"] != "success"
    if state.current_run == run_id:
        state.current_run = None


def _task_outcome(state: OutcomesState, event: Event) -> None:
    task = text(event.payload.get("task_id")) or event.stream
    if task is None:
        return
    outcome = "completed" if event.payload.get("action") == "completed" else "failed"
    run = state.runs.get(run_of(state, event) or "")
    if run is not None:
        before = run["tasks"].get(task)
        if before is not None:
            run[before] -= 1
        run["tasks"][task] = outcome
        run[outcome] += 1
    if outcome == "completed":
        _completed(state, task)


def _completed(state: OutcomesState, task: str) -> None:
    spent = state.task_spend.pop(task, [0, 0])
    state.success["tasks"] += 1
    state.success["tokens"] += spent[0]
    state.success["cost_nanos"] += spent[1]
    if state.retrying.pop(task, None) is not None:
        state.retries["succeeded"] += 1


def _usage(state: OutcomesState, event: Event) -> None:
    get = event.payload.get
    task = get("task_id")
    if not isinstance(task, str) or not task:
        return
    # Only plain positive ints count (a bool's class is bool); unrolled: this runs for every usage event.
    inp, out, read, write = get("input_tokens"), get("output_tokens"), get("cache_read_tokens"), get("cache_write_tokens")
    tokens = ((inp if inp.__class__ is int and inp > 0 else 0) + (out if out.__class__ is int and out > 0 else 0)
              + (read if read.__class__ is int and read > 0 else 0) + (write if write.__class__ is int and write > 0 else 0))
    cost = get("cost_usd")
    nanos = 0 if cost is None else round(cost * 1e9) if cost.__class__ in (int, float) and cost > 0 else 0
    spent = state.task_spend.get(task)
    if spent is None:
        state.task_spend[task] = [tokens, nanos]
    else:
        spent[0] += tokens
        spent[1] += nanos


# ---------------------------------------------------------------------- gates and healing

def _gate_evaluated(state: OutcomesState, event: Event) -> None:
    payload = event.payload
    gate, verdict = text(payload.get("gate")), str(payload.get("verdict") or "").lower()
    if gate is None or verdict not in _VERDICTS:
        return
    mode = text(payload.get("mode")) or "default"
    tally = gate_tally(state, gate, mode)
    tally["evaluated"] += 1
    tally[verdict] += 1
    run_id = text(payload.get("run_id")) or run_of(state, event)
    subject = f"{run_id or '-'}|{text(payload.get('task_id')) or ''}"
    last_key = f"{gate}|{subject}"
    flips = state.flips.setdefault(gate, {"rejects": 0, "flips": 0})
    if verdict == "reject":
        flips["rejects"] += 1
    elif verdict == "pass" and state.gate_last.get(last_key) == "reject":
        flips["flips"] += 1  # rejected, then passed for the same run with nothing else recorded: flaky
    state.gate_last[last_key] = verdict
    run = state.runs.get(run_id or "")
    if verdict == "pass" and run is not None and gate not in run["passed_gates"]:
        run["passed_gates"].append(gate)


def _retry(state: OutcomesState, event: Event) -> None:
    task = text(event.payload.get("task_id"))
    if task is None:
        return
    state.retries["attempts"] += 1
    if task not in state.retrying:
        state.retrying[task] = event.seq
        state.retries["episodes"] += 1


def _given_up(state: OutcomesState, event: Event) -> None:
    task = text(event.payload.get("task_id"))
    if task is not None and state.retrying.pop(task, None) is not None:
        state.retries["failed"] += 1


# ---------------------------------------------------------------------- suggestions

def _suggestion(state: OutcomesState, event: Event) -> None:
    payload = event.payload
    if event.id in state.suggestions or text(payload.get("kind")) is None:
        return
    record = {k: payload.get(k) for k in ("kind", "gate", "key", "value", "reason", "approval_id", "rule")}
    record.update(id=event.id, seq=event.seq, status="proposed")
    state.suggestions[event.id] = record
    approval = text(payload.get("approval_id"))
    if approval is not None:
        state.approval_index[approval] = event.id


def _answered(state: OutcomesState, event: Event) -> None:
    suggestion = state.suggestions.get(state.approval_index.get(text(event.payload.get("approval_id")) or "", ""))
    if suggestion is not None and suggestion["status"] == "proposed":
        suggestion["status"] = APPROVED if event.payload.get("action") == "granted" else DENIED


def _applied(state: OutcomesState, event: Event) -> None:
    suggestion = state.suggestions.get(text(event.payload.get("suggestion_id")) or "")
    if suggestion is None or suggestion["status"] != APPROVED:
        return  # fail closed: only a suggestion whose approval was granted takes effect
    suggestion["status"] = APPLIED
    suggestion["applied_seq"] = event.seq
    gate = suggestion["gate"]
    if suggestion["kind"] == "mark_flaky":
        if gate not in state.flaky_gates:
            state.flaky_gates.append(gate)
    else:
        state.overrides[f"{gate}|{suggestion['key']}"] = {
            "gate": gate, "key": suggestion["key"], "value": suggestion["value"], "suggestion_id": suggestion["id"]}
        state.escapes.pop(gate, None)  # evidence for the next step starts afresh under the new threshold


#: Handlers by event type, then action.
_HANDLERS: dict[str, dict[str, Any]] = {
    "session": {"start": _session_start, "end": _session_end},
    "task": {"completed": _task_outcome, "failed": _task_outcome},
    "governance": {"gate_evaluated": _gate_evaluated, "suggestion": _suggestion, "suggestion_applied": _applied},
    "healing": {"retry": _retry, "rollback": _given_up, "escalated": _given_up},
    "approval": {"granted": _answered, "denied": _answered},
    "metric": {"token_usage": _usage},
}

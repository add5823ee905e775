"""Running the gate pipeline: gather, evaluate, record, and pause for approvals.

    outcome = run_gates(log, ".loki", mode="prod", wait=60)

Every evaluation appends `governance.gate_evaluated` (gate, verdict, reasons, mode, the seqs of
the events it read). Any REJECT fails the run at once (`governance.rejected`, every rejecting
gate's reasons). Otherwise the first PAUSE, in the mode's order, opens an approval through the
existing approval events (`approval.requested`, answered by `lokilog approve ID`) and records
`governance.paused`; the run continues only after `approval.granted` (`governance.resumed`,
then a fresh pass over every gate, since the log moved on while it waited); a denial, or a
timeout (its approval expires as denied), is a REJECT. All PASS: `governance.passed`.

Every event of a run is appended to its stream at the version the run last saw, so two
processes resuming the same run cannot both carry it on: the second gets a conflict (exit 3).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from eventlog import InvalidEventError

from .evaluate import evaluate, outcome
from .gather import gather
from .model import GATES, MODES, GateResult, Verdict
from .overrides import Learned, load as load_learned
from .runs import GOVERNANCE_EVENTS, PASSED, PAUSED, REJECTED, GateRun, fold_runs, run_stream


class GateRunError(InvalidEventError):
    """A resume named a run that does not exist or is already over."""


@dataclass
class RunOutcome:
    """Where a call to the pipeline left the run."""

    run_id: str
    mode: str
    status: str                     # passed, rejected or paused
    results: list[GateResult] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    approval_id: str | None = None
    paused_gate: str | None = None
    ignored_overrides: tuple = ()

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "mode": self.mode, "status": self.status, "reasons": self.reasons,
                "approval_id": self.approval_id, "paused_gate": self.paused_gate,
                "gates": [r.to_payload(self.mode) for r in self.results],
                "ignored_overrides": list(self.ignored_overrides)}


@dataclass
class _Run:
    """A run being carried on by this process: its identity, version and what it was granted."""

    log: Any
    loki_dir: Path
    run_id: str
    mode: str
    plan: str
    source: str
    version: int = 0
    passes: int = 0
    approved: dict[str, str] = field(default_factory=dict)

    def record(self, action: str, body: Mapping[str, Any]):
        receipt = self.log.append("governance", self.source, {"action": action, "run_id": self.run_id, **body},
                                  stream=run_stream(self.run_id), expected_version=self.version,
                                  correlation_id=self.run_id)
        self.version += 1
        return receipt


def new_run_id() -> str:
    return "gr-" + os.urandom(6).hex()


def run_gates(log, loki_dir, *, mode: str | None = None, wait: float = 0.0, plan: str | None = None,
              source: str = "cli", token: str | None = None, resources: tuple[str, ...] = (),
              env: Mapping[str, str] | None = None, run_id: str | None = None) -> RunOutcome:
    """Start a run of the pipeline and carry it as far as ``wait`` seconds of approvals allow."""
    loki_dir = Path(loki_dir)
    learned = load_learned(loki_dir)
    mode = mode or learned.config.default_mode
    if mode not in MODES:
        raise InvalidEventError(f"mode {mode!r} is not one of {', '.join(MODES)}")
    run = _Run(log, loki_dir, run_id or new_run_id(), mode, "", source)
    run.plan = plan or run.run_id
    run.record("run_started", _start_payload(run, learned))
    return _carry(run, learned, wait, token=token, resources=resources, env=env)


def resume_gates(log, loki_dir, run_id: str, *, wait: float = 0.0, source: str = "cli", token: str | None = None,
                 resources: tuple[str, ...] = (), env: Mapping[str, str] | None = None) -> RunOutcome:
    """Carry on a paused run: wait (bounded) for its approval's answer, then evaluate again."""
    known = fold_runs(log.read(filter=GOVERNANCE_EVENTS)).get(run_id)
    if known is None:
        raise GateRunError(f"no gate run {run_id!r} (see `lokilog gates status`)")
    if known.status in (PASSED, REJECTED):
        raise GateRunError(f"gate run {run_id} is over: it {known.status}")
    learned = load_learned(Path(loki_dir))
    run = _Run(log, Path(loki_dir), run_id, known.mode, known.plan, source, known.version, known.passes,
               dict(known.approved))
    if known.status == PAUSED and known.approval_id:
        answered = _await(run, known.paused_gate or "", known.approval_id, wait)
        if answered is not None:
            return answered
    return _carry(run, learned, wait, token=token, resources=resources, env=env)


def _carry(run: _Run, learned: Learned, wait: float, **gathering: Any) -> RunOutcome:
    config = learned.config
    for _ in range(len(GATES) + 1):  # each pass either ends the run or adds one approved gate
        inputs = gather(run.loki_dir, run.log, config, run.mode, run_id=run.run_id, plan=run.plan,
                        source=run.source, **gathering)
        results = evaluate(config, inputs, run.mode, flaky=learned.flaky, approved=run.approved)
        run.passes += 1
        for result in results:
            run.record("gate_evaluated", {**result.to_payload(run.mode), "pass": run.passes,
                                          "head_seq": inputs.facts.head_seq})
        verdict = outcome(results)
        if verdict is Verdict.REJECT:
            return _reject(run, results, [r for r in results if r.verdict is Verdict.REJECT], learned)
        if verdict is Verdict.PASS:
            run.record("passed", {"mode": run.mode, "gates": [r.gate for r in results]})
            return RunOutcome(run.run_id, run.mode, PASSED, results, ignored_overrides=learned.ignored)
        paused = next(r for r in results if r.verdict is Verdict.PAUSE)
        approval_id = _open_approval(run, paused, config.approval_timeout)
        answered = _await(run, paused.gate, approval_id, wait, results, learned)
        if answered is not None:
            return answered
    raise AssertionError("a gate run did not end within one pass per gate")  # every loop adds an approval


def _open_approval(run: _Run, paused: GateResult, timeout: float) -> str:
    from commands.policy import approvals
    from commands.policy.model import ApprovalSettings, Decision
    from commands.policy.model import Verdict as PolicyVerdict

    reason = "; ".join(paused.reasons) or f"gate {paused.gate} paused"
    context = {"run_id": run.run_id, "gate": paused.gate, "mode": run.mode}
    if paused.gate == "plan_approval":
        context["plan"] = run.plan  # only a plan approval approves the plan for later runs
    verdict = PolicyVerdict(Decision.REQUIRE_APPROVAL, "governance", f"gate:{paused.gate}", reason)
    approval_id, _, body = approvals.request(run.log, verdict, context, ApprovalSettings(timeout, "deny"),
                                             source=run.source, correlation_id=run.run_id)
    run.record("paused", {"gate": paused.gate, "approval_id": approval_id, "reasons": list(paused.reasons),
                          "expires_at": body["expires_at"]})
    return approval_id


def _await(run: _Run, gate: str, approval_id: str, wait: float, results: list[GateResult] | None = None,
           learned: Learned | None = None) -> RunOutcome | None:
    """Wait for the answer; return the outcome unless the run may carry on (granted)."""
    from commands.policy import approvals

    answer = approvals.wait_for(run.log, approval_id, wait) if wait > 0 else _current(run.log, approval_id)
    ignored = learned.ignored if learned else ()
    if answer.status == "pending":
        return RunOutcome(run.run_id, run.mode, PAUSED, results or [], [f"{gate}: waiting for approval {approval_id}"],
                          approval_id, gate, ignored)
    if answer.status == "denied":
        how = f"timed out ({answer.decision_reason})" if answer.auto else f"denied by {answer.decided_by}"
        reasons = [f"{gate}: approval {approval_id} {how}"]
        run.record("rejected", {"mode": run.mode, "gates": [gate], "reasons": reasons, "approval_id": approval_id})
        return RunOutcome(run.run_id, run.mode, REJECTED, results or [], reasons, approval_id, gate, ignored)
    run.approved[gate] = answer.decided_by or "unknown"
    run.record("resumed", {"gate": gate, "approval_id": approval_id, "by": run.approved[gate],
                           "approval_seq": answer.decided_seq})
    return None


def _current(log, approval_id: str):
    from commands.policy import approvals

    approvals.expire_due(log)
    return approvals.approvals(log).approvals[approval_id]


def _reject(run: _Run, results: list[GateResult], rejecting: list[GateResult], learned: Learned) -> RunOutcome:
    reasons = [f"{r.gate}: {reason}" for r in rejecting for reason in r.reasons]
    run.record("rejected", {"mode": run.mode, "gates": [r.gate for r in rejecting], "reasons": reasons})
    return RunOutcome(run.run_id, run.mode, REJECTED, results, reasons, ignored_overrides=learned.ignored)


def _start_payload(run: _Run, learned: Learned) -> dict[str, Any]:
    config = learned.config
    return {
        "mode": run.mode, "plan": run.plan, "order": list(config.order[run.mode]),
        "config": {"source": config.source, "digest": config.digest},
        "overrides": list(learned.applied), "ignored_overrides": list(learned.ignored),
        "flaky_gates": sorted(learned.flaky),
    }


def runs(log) -> dict[str, GateRun]:
    """Every gate run in the log, by id."""
    return fold_runs(log.read(filter=GOVERNANCE_EVENTS))

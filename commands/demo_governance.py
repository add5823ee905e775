"""The governance part of `lokilog demo`: a run passes the dev gates, pauses in prod for plan
approval, is approved, and carries on to PASS.

It plays in a copy of the demo's log (`gated/.loki` beside the demo's `.loki/`), so the demo's
own log, which the other sections and their readers count on, stays as it was. Every step is an
event in the copy's log and an entry of its audit chain.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

DEMO_GOVERNANCE = """\
version: 1
mode: dev
approvals:
  timeout_seconds: 600
gates:
  consensus:
    reviewers: [alice, bob, carol]
    required: {dev: 0, staging: 1, prod: 2}
  tenant:
    owners: {acme: ["src/*", "s3://acme-*"], globex: ["s3://globex-*"]}
"""


def run_gates_demo(log, loki_dir: Path) -> str:
    """Copy the demo run, run the gates on it (dev, then prod with an approval); return a short report."""
    from eventlog import FileEventLog, NewEvent

    root = Path(loki_dir).parent / "gated" / ".loki"
    root.mkdir(parents=True, exist_ok=True)
    with FileEventLog(root) as gated:
        gated.append_many([NewEvent(type=e.type, source=e.source, payload=e.payload, stream=e.stream,
                                    timestamp=e.timestamp) for e in log.read()])
        lines = _play(gated, root)
    return "\n".join(lines)


def _play(log, root: Path) -> list[str]:
    from commands.policy import approvals
    from commands.serve.token_store import TokenStore
    from projections.audit import AuditProjection, AuditSettings
    from projections.audit.trail import verify_trail
    from projections.engine import catch_up

    from .governance.pipeline import resume_gates, run_gates

    (root / "governance.yaml").write_text(DEMO_GOVERNANCE, encoding="utf-8")
    (root / "config.yaml").write_text("tenant: acme\n", encoding="utf-8")
    token = TokenStore(root, env={}).create("release-bot", ["control"], by="demo").token
    _fixed_run(log)
    dev = run_gates(log, root, mode="dev", source="runner", plan="release-1.4")
    prod = run_gates(log, root, mode="prod", source="runner", token=token, plan="release-1.4")
    lines = [f"the demo run, fixed and re-checked, in a copy of its log: {root}",
             f"dev:  {dev.status.upper()} ({_tally(dev)})",
             f"prod: {prod.status.upper()} at {prod.paused_gate} ({_tally(prod)}), approval {prod.approval_id}"]
    approvals.answer(log, prod.approval_id, True, by="release-manager", reason="plan reviewed", source="cli")
    final = resume_gates(log, root, prod.run_id, source="runner", token=token)
    lines.append(f"approved by release-manager -> prod: {final.status.upper()} ({_tally(final)})")
    kinds = Counter(e.payload.get("action") for e in log.read(types=["governance"]))
    lines.append("events: " + ", ".join(f"governance.{k} x{n}" for k, n in kinds.items()))
    catch_up(root, AuditProjection(AuditSettings()))
    audit = verify_trail(root)
    lines.append(f"audit chain: {audit.entries} entries, valid={audit.valid}; LOKI_DIR={root} lokilog gates status")
    return lines


def _fixed_run(log) -> None:
    """A second session, after the failed deploy was fixed: gates green, two reviewers approve."""
    drafts = [("session", {"action": "start", "session_id": "session-fix"}),
              ("task", {"action": "completed", "task_id": "task-004", "file_path": "src/deploy.py"}),
              ("quality", {"action": "gate", "gate": "unit-tests", "result": "pass"}),
              ("quality", {"action": "gate", "gate": "coverage", "result": "pass", "coverage": 86.5}),
              ("quality", {"action": "gate", "gate": "lint", "result": "pass", "errors": 0}),
              ("council", {"action": "vote", "reviewer": "alice", "verdict": "approve"}),
              ("council", {"action": "vote", "reviewer": "bob", "verdict": "approve"})]
    for kind, payload in drafts:
        log.append(kind, "runner", payload)


def _tally(outcome) -> str:
    counts = Counter(r.verdict.value for r in outcome.results)
    return ", ".join(f"{n} {v}" for v, n in sorted(counts.items()))

"""The governance part of `lokilog demo`: a run passes the dev gates, pauses in prod for plan
approval, is approved, and carries on to PASS. Every step is an event in the demo's log."""
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
    """Run the gates on the demo log (dev, then prod with an approval); return a few lines of report."""
    from commands.policy import approvals
    from commands.serve.token_store import TokenStore

    from .governance.pipeline import resume_gates, run_gates

    root = Path(loki_dir)
    (root / "governance.yaml").write_text(DEMO_GOVERNANCE, encoding="utf-8")
    with (root / "config.yaml").open("a", encoding="utf-8") as config:
        config.write("tenant: acme\n")
    token = TokenStore(root, env={}).create("release-bot", ["control"], by="demo").token
    _fixed_run(log)
    dev = run_gates(log, root, mode="dev", source="runner", plan="release-1.4")
    prod = run_gates(log, root, mode="prod", source="runner", token=token, plan="release-1.4")
    lines = [f"dev:  {dev.status.upper()} ({_tally(dev)})",
             f"prod: {prod.status.upper()} at {prod.paused_gate} ({_tally(prod)}), approval {prod.approval_id}"]
    approvals.answer(log, prod.approval_id, True, by="release-manager", reason="plan reviewed", source="cli")
    final = resume_gates(log, root, prod.run_id, source="runner", token=token)
    lines.append(f"approved by release-manager -> prod: {final.status.upper()} ({_tally(final)})")
    kinds = Counter(e.payload.get("action") for e in log.read(types=["governance"]))
    lines.append("events: " + ", ".join(f"governance.{k} x{n}" for k, n in kinds.items()))
    lines.append(f"see them: LOKI_DIR={root} lokilog gates status")
    return "\n".join(lines)


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

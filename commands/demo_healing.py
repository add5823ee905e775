"""The demo's healing and learning section: a transient failure retried, a permanent one rolled
back, and a suggestion learned from a history of runs, approved and applied."""
from __future__ import annotations

import json
from pathlib import Path

from eventlog import FileEventLog

DEMO_RUNS = 6


def run_healing_demo(demo_root: Path) -> str:
    """Fail two tasks, let healing answer, learn from six runs; return a short report.

    It runs in a `.loki/` of its own beside the demo's, so the demo's simulated run (which
    other sections and their tests count) stays as it is.
    """
    root = Path(demo_root).parent / "healing" / ".loki"
    with FileEventLog(root) as log:
        log.append("task", "runner", {"action": "created", "task_id": "task-004"}, stream="task-004")
        log.append("task", "runner", {"action": "created", "task_id": "task-005"}, stream="task-005")
    lines = [f"in {root}:"] + _heal(root)
    lines += _learn(root)
    lines += _witness(root)
    lines.append(f"see it:  LOKI_DIR={root} lokilog replay --type healing   and   lokilog learn status")
    return "\n".join(lines)


def _heal(root: Path) -> list[str]:
    from subscribers.base import drain
    from subscribers.healing.manager import HealingManager

    from .checkpoints.lifecycle import create

    checkpoint = create(root, "before the risky tasks", prefix="cp").manifest.id
    with FileEventLog(root) as log:
        start = log.head_seq + 1
        log.append("task", "runner", {"action": "failed", "task_id": "task-004", "error": "503 upstream timed out"})
        for got in (40, 41):
            log.append("task", "runner", {"action": "failed", "task_id": "task-005",
                                          "error": f"assert total == 42 (got {got})"})
    drain(root, HealingManager(root))
    lines = [f"checkpoint {checkpoint}; then task-004 timed out and task-005 failed the same way twice"]
    with FileEventLog(root) as log:
        for event in log.read(start):
            payload = event.payload
            if event.type == "healing" and payload.get("task_id") in ("task-004", "task-005"):
                detail = {"retry": f"attempt {payload.get('attempt')}, backoff {payload.get('backoff_seconds')}s",
                          "rollback": f"to {payload.get('checkpoint_id')}"}.get(payload["action"], "")
                lines.append(f"  healing.{payload['action']:<9} {payload['task_id']}: {payload['classification']}, "
                             f"{payload['reason']}" + (f" ({detail})" if detail else ""))
            elif event.type == "checkpoint" and payload.get("action") == "rolled_back":
                lines.append(f"  checkpoint.rolled_back to {payload['checkpoint_id']} (undo: {payload['undo']})")
    return lines


def _learn(root: Path) -> list[str]:
    from .learning import apply_granted, suggest
    from .policy.approvals import answer

    with FileEventLog(root) as log:
        for n in range(DEMO_RUNS):  # the quality gate flips within a run, and half the runs fail after passing it
            session = f"session-learn-{n}"
            log.append("session", "runner", {"action": "start", "session_id": session})
            for verdict in ("REJECT", "PASS"):
                log.append("governance", "gates", {"action": "gate_evaluated", "gate": "quality", "verdict": verdict,
                                                   "mode": "dev", "reasons": [], "run_id": session})
            log.append("task", "runner", {"action": "completed" if n % 2 else "failed", "task_id": f"task-l{n}",
                                          "session_id": session})
            log.append("session", "runner", {"action": "end", "session_id": session, "status": "completed"})
    made = suggest(root)
    lines = [f"learned from {DEMO_RUNS} runs:"] + [f"  governance.suggestion {s['reason']}" for s in made]
    with FileEventLog(root) as log:
        for suggestion in made:
            answer(log, suggestion["approval_id"], True, by="demo")
    apply_granted(root)
    applied = json.loads((root / "state" / "outcomes" / "applied.json").read_text())
    lines.append(f"approved and applied; the gate pipeline reads state/outcomes/applied.json: {json.dumps(applied)}")
    return lines


def _witness(root: Path) -> list[str]:
    from .audit.anchors import anchor, check
    from .audit.witness import parse_witness

    witness = parse_witness(str(root.parent.parent / "audit-witness.jsonl"), root)
    (receipt,) = anchor(root, [witness])
    found = check(root)
    verdict = "the chain agrees with it" if found.valid else "; ".join(found.problems)
    return [f"audit head seq {receipt['seq']} anchored at {witness.name}; audit verify --witness: {verdict}"]

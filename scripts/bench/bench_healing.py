"""Benchmark healing and learning: decisions per second, and the outcomes fold, each beside a baseline.

Usage: python3 scripts/bench/bench_healing.py [--failures 2000] [--events 100000] [--repeat 3]
Prints one JSON object of medians and ratios to baselines measured in the same run:
- healing: draining the healing subscriber over N failures (retries and escalations, each one
  conditional append of its decision, escalations one more for their approval), against the
  floor of any such process manager: draining a subscriber that makes one conditional append
  (stream + expected_version 0) per failure, with the same durable cursor commits;
- outcomes: folding the outcomes projection over a run-shaped log, against the run-state fold.
Both logs live on a disk-backed directory with the default durability (fsync per append).
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from common import scratch_dir

from eventlog import FileEventLog, LogSettings, NewEvent
from projections.base import project
from projections.outcomes import OutcomesProjection
from projections.run_state import RunStateProjection
from subscribers.base import drain
from subscribers.healing.manager import HealingManager

ERRORS = ("upstream timed out", "429 rate limit", "assert total == 42", "KeyError: 'id'")


def failures(loki: Path, n: int) -> None:
    with FileEventLog(loki, settings=LogSettings(durability="never")) as log:
        log.append_many([NewEvent(type="task", source="runner", payload={
            "action": "failed", "task_id": f"t{i % 200}", "error": ERRORS[i % len(ERRORS)]}) for i in range(n)])


def heal(base: Path, n: int) -> float:
    loki = base / "heal" / ".loki"
    failures(loki, n)
    started = time.perf_counter()
    drain(loki, HealingManager(loki))
    return time.perf_counter() - started


class _Floor:
    """One conditional append per failure and nothing else."""

    name = "floor"

    def __init__(self, loki: Path) -> None:
        self.loki = loki

    def handle(self, event) -> None:
        with FileEventLog(self.loki) as log:
            log.append("healing", "healing", {"action": "retry"}, id=f"heal-{event.id}", stream=f"healing-{event.id}",
                       expected_version=0)


def conditional_appends(base: Path, n: int) -> float:
    loki = base / "append" / ".loki"
    failures(loki, n)
    started = time.perf_counter()
    drain(loki, _Floor(loki))
    return time.perf_counter() - started


def run_events(n: int) -> list:
    from eventlog import Event

    out, seq = [], 0
    for i in range(n // 10):
        session, task = f"s{i // 20}", f"t{i}"
        for kind, action, extra in (
            ("session", "start", {"session_id": session}), ("task", "started", {"task_id": task}),
            ("metric", "token_usage", {"task_id": task, "model": "m", "input_tokens": 100, "output_tokens": 20}),
            ("governance", "gate_evaluated", {"gate": "quality", "verdict": "REJECT" if i % 3 else "PASS", "mode": "dev"}),
            ("governance", "gate_evaluated", {"gate": "quality", "verdict": "PASS", "mode": "dev"}),
            ("healing", "retry", {"task_id": task}), ("task", "completed" if i % 4 else "failed", {"task_id": task}),
            ("state", "phase", {"phase": "ACT"}), ("agent", "start", {"agent_id": "a1"}),
            ("session", "end", {"session_id": session, "status": "completed"}),
        ):
            seq += 1
            out.append(Event(seq=seq, id=f"e{seq}", type=kind, source="runner", timestamp="2026-01-01T00:00:00.000Z",
                             version="1.0", payload={"action": action, **extra}))
    return out


def fold_seconds(projection, events) -> float:
    started = time.perf_counter()
    project(projection, events)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--failures", type=int, default=2000)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    runs: dict[str, list[float]] = {"heal": [], "conditional_append": [], "outcomes_fold": [], "run_state_fold": []}
    events = run_events(args.events)
    for r in range(args.repeat):
        with scratch_dir("bench-healing-") as base:
            runs["heal"].append(heal(base / str(r), args.failures))
            runs["conditional_append"].append(conditional_appends(base / str(r), args.failures))
        runs["outcomes_fold"].append(fold_seconds(OutcomesProjection(), events))
        runs["run_state_fold"].append(fold_seconds(RunStateProjection(), events))
    median = {k: statistics.median(v) for k, v in runs.items()}
    print(json.dumps({
        "failures": args.failures, "events": len(events), "repeat": args.repeat,
        "decisions_per_s": round(args.failures / median["heal"]),
        "floor_decisions_per_s": round(args.failures / median["conditional_append"]),
        "heal_ratio_to_floor": round(median["heal"] / median["conditional_append"], 2),
        "outcomes_events_per_s": round(len(events) / median["outcomes_fold"]),
        "run_state_events_per_s": round(len(events) / median["run_state_fold"]),
        "outcomes_ratio_to_run_state": round(median["outcomes_fold"] / median["run_state_fold"], 2),
        "median_s": {k: round(v, 4) for k, v in median.items()},
    }, indent=2))


if __name__ == "__main__":
    main()

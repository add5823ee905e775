"""A synthetic run with a realistic mix of docs/EVENTS.md's vocabulary, for the projection benchmarks.

Per 100 events, roughly: 32 task lifecycle events (created, claimed, started, completed or
failed) over a fixed pool of tasks, 26 metric.token_usage, 18 quality.gate, 14 state.phase,
4 agent start/stop, 3 of types no projection reads (memory, command), and a few
checkpoint.created, error.*, approval.* and tracker.* events (tracker links to commits, and the
syncs that answer them). Deterministic for a given size and task count.

    from realistic_run import write_run
    write_run(Path(".loki"), events=200_000, tasks=25_000)
"""
from __future__ import annotations

import random
import sys
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

_LIFECYCLE = ("created", "claimed", "started", "completed")
_PHASES = ("REASON", "ACT", "REFLECT", "VERIFY")
_GATES = ("unit", "lint", "types", "review")
_MODELS = (("anthropic", "claude-sonnet-4"), ("anthropic", "claude-haiku-4"), ("openai", "gpt-4.1"))
_AGENT_TYPES = ("eng-backend", "eng-frontend", "qa", "reviewer")


def _kinds(rng: random.Random) -> list[str]:
    table = (("task", 3200), ("usage", 2600), ("gate", 1800), ("phase", 1400), ("agent", 400),
             ("other", 300), ("error", 50), ("checkpoint", 30), ("approval", 40), ("tracker", 30))
    kinds = [k for k, weight in table for _ in range(weight)]
    rng.shuffle(kinds)
    return kinds


def drafts(events: int, tasks: int, seed: int = 17) -> Iterator[dict]:
    """Yield ``events`` event drafts (mappings for ``append_many``)."""
    rng = random.Random(seed)
    kinds = _kinds(rng)
    inflight = list(range(min(8, tasks)))  # pool slots of the tasks being worked on now
    stage = [0] * tasks  # next lifecycle step of each task in the pool
    fresh = len(inflight)
    session = "session-1"
    yield {"type": "session", "source": "runner", "stream": session, "payload": {"action": "start", "session_id": session, "model": "claude-sonnet-4"}}
    for i in range(1, events):
        kind = kinds[i % len(kinds)]
        current = f"task-{inflight[i % len(inflight)]:06d}"
        if kind == "task":
            lane = rng.randrange(len(inflight))
            slot = inflight[lane]
            step = stage[slot]
            tid = f"task-{slot:06d}"
            if step == 0:
                payload = {"action": "created", "task_id": tid, "title": f"implement part {slot}", "priority": slot % 3}
            elif step < 3:
                payload = {"action": _LIFECYCLE[step], "task_id": tid, "agent": f"agent-{slot % 8}"}
            elif rng.random() < 0.1:
                payload = {"action": "failed", "task_id": tid, "error": "tests failed", "duration_ms": rng.randrange(500, 900_000)}
            else:
                payload = {"action": "completed", "task_id": tid, "duration_ms": rng.randrange(500, 900_000)}
            stage[slot] = (step + 1) % 4
            if step == 3:  # done: the next task of the pool (a pool smaller than the run repeats tasks)
                inflight[lane] = fresh % tasks
                fresh += 1
            yield {"type": "task", "source": "runner", "stream": tid, "payload": payload}
        elif kind == "usage":
            provider, model = _MODELS[i % 3]
            yield {"type": "metric", "source": "runner", "payload": {
                "action": "token_usage", "provider": provider, "model": model,
                "input_tokens": rng.randrange(200, 20_000), "output_tokens": rng.randrange(50, 4_000),
                "cache_read_tokens": rng.randrange(0, 10_000), "agent_type": _AGENT_TYPES[i % 4],
                "task_id": current, "session_id": session}}
        elif kind == "gate":
            tid = current
            yield {"type": "quality", "source": "runner", "stream": tid, "payload": {
                "action": "gate", "gate": _GATES[i % 4], "result": "pass" if rng.random() < 0.85 else "fail", "task_id": tid}}
        elif kind == "phase":
            yield {"type": "state", "source": "runner", "stream": session, "payload": {
                "action": "phase", "phase": _PHASES[(i // 100) % 4], "iteration": i // 400}}
        elif kind == "agent":
            agent = f"agent-{i % 8}"
            action = "start" if (i // 8) % 2 == 0 else "stop"
            yield {"type": "agent", "source": "runner", "stream": agent, "payload": {
                "action": action, "agent_id": agent, "agent_type": _AGENT_TYPES[i % 4]}}
        elif kind == "other":
            yield {"type": rng.choice(("memory", "command")), "source": "runner", "payload": {
                "action": "stored", "key": f"k{i % 1000}"}}
        elif kind == "error":
            yield {"type": "error", "source": "runner", "payload": {
                "action": "friction", "friction_kind": "retry_loop", "error_class": "TimeoutError",
                "message": f"request timed out after {i % 5 + 1} retries", "component": "provider"}}
        elif kind == "checkpoint":
            yield {"type": "checkpoint", "source": "cli", "payload": {
                "action": "created", "checkpoint_id": f"cp-{i}", "message": "auto", "log_seq": i}}
        elif kind == "approval":
            approval = f"ap-{i // 2}"
            action = "requested" if i % 2 == 0 else "granted"
            yield {"type": "approval", "source": "cli", "payload": {
                "action": action, "approval_id": approval, "point": "deploy", "rule": "prod", "by": "ops"}}
        else:
            tid = current
            yield {"type": "tracker", "source": "cli", "payload": {
                "action": "linked", "tracker": "github", "task_id": tid, "ref": f"acme/app@{i:07x}"}}


def write_run(root: Path, events: int, tasks: int, seed: int = 17) -> None:
    """Append the run to the log under ``root`` (a `.loki/` directory), in batches."""
    from eventlog import FileEventLog, LogSettings

    batch: list[dict] = []
    with FileEventLog(root, settings=LogSettings(durability="batch")) as log:
        for draft in drafts(events, tasks, seed):
            batch.append(draft)
            if len(batch) == 20_000:
                log.append_many(batch)
                batch = []
        if batch:
            log.append_many(batch)

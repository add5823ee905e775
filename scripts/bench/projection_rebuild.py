"""Benchmark: run-state rebuild throughput over 1 000 000 events, and its peak memory.

Writes a synthetic run (a pool of 1 000 tasks going through created/started/gate/completed,
phases, agents, token usage) into a temporary `.loki/`, then, each in a fresh process so that
peak RSS is its own:
- baseline: reading the same events with no fold (FileEventLog.read), the ceiling;
- rebuild: `projections.engine.rebuild` of run-state (fold, snapshot, views);
- prefix: the fold of the first quarter only, to show peak memory does not grow with the
  length of the log (the state is bounded: history per task is capped).
Prints one JSON object: medians over --repeat runs of wall-clock and CPU throughput (on a
shared machine the CPU figure is the stable one), and ratios to the baseline.

    python3 scripts/bench/projection_rebuild.py [--events 1000000] [--repeat 3]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

CHILD = r"""
import json, resource, sys, time
from eventlog import FileEventLog
from projections.engine import Runner, rebuild
from projections.run_state import RunStateProjection
mode, root = sys.argv[1], sys.argv[2]
usage = resource.getrusage(resource.RUSAGE_SELF)
cpu_before = usage.ru_utime + usage.ru_stime
started = time.perf_counter()
if mode == "read":
    with FileEventLog(root) as log:
        n = sum(1 for _ in log.read(ingest=False))
elif mode == "rebuild":
    n = rebuild(root, [RunStateProjection()])[0].seq
else:
    with Runner(root, RunStateProjection(), fresh=True, snapshot_every=0) as runner:
        n = runner.advance(int(mode.split(":")[1])).seq
seconds = time.perf_counter() - started
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"events": n, "seconds": seconds, "cpu_seconds": usage.ru_utime + usage.ru_stime - cpu_before,
                  "peak_rss_mb": usage.ru_maxrss / 1024}))
"""


def generate(root: Path, count: int, tasks: int = 1000) -> None:
    from eventlog import FileEventLog, LogSettings, NewEvent

    def event(i: int) -> NewEvent:
        tid = f"task-{(i // 8) % tasks}"
        kind = i % 8
        if kind == 0:
            return NewEvent(type="task", source="runner", stream=tid, payload={"action": "created", "task_id": tid, "title": "a task"})
        if kind == 1:
            return NewEvent(type="task", source="runner", stream=tid, payload={"action": "started", "task_id": tid, "agent": "agent-1"})
        if kind == 2:
            return NewEvent(type="state", source="runner", payload={"action": "phase", "phase": "ACT", "iteration": i})
        if kind == 3:
            return NewEvent(type="metric", source="runner", payload={"action": "token_usage", "model": "m", "provider": "p",
                                                                     "input_tokens": 1200, "output_tokens": 340})
        if kind == 4:
            return NewEvent(type="quality", source="runner", stream=tid, payload={"action": "gate", "gate": "unit", "result": "pass", "task_id": tid})
        if kind == 5:
            return NewEvent(type="task", source="runner", stream=tid, payload={"action": "completed", "task_id": tid, "duration_ms": 42})
        if kind == 6:
            return NewEvent(type="agent", source="runner", payload={"action": "start", "agent_id": f"agent-{i % 4}", "agent_type": "eng"})
        return NewEvent(type="agent", source="runner", payload={"action": "stop", "agent_id": f"agent-{(i + 2) % 4}", "agent_type": "eng"})

    with FileEventLog(root, settings=LogSettings(durability="batch")) as log:
        for start in range(0, count, 20_000):
            log.append_many([event(i) for i in range(start, min(count, start + 20_000))])


def measure(mode: str, root: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    out = subprocess.run([sys.executable, "-c", CHILD, mode, str(root)], env=env, capture_output=True,
                         text=True, check=True, timeout=600)
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lokilog-bench-") as scratch:
        root = Path(scratch) / ".loki"
        started = time.perf_counter()
        generate(root, args.events)
        generated = time.perf_counter() - started
        runs = {"read": [], "rebuild": [], "prefix": []}
        for _ in range(args.repeat):
            runs["read"].append(measure("read", root))
            runs["rebuild"].append(measure("rebuild", root))
            runs["prefix"].append(measure(f"prefix:{args.events // 4}", root))
    summary = {name: {
        "events": results[0]["events"],
        "seconds_median": round(statistics.median(r["seconds"] for r in results), 3),
        "events_per_s_median": round(statistics.median(r["events"] / r["seconds"] for r in results)),
        "events_per_cpu_s_median": round(statistics.median(r["events"] / r["cpu_seconds"] for r in results)),
        "peak_rss_mb_median": round(statistics.median(r["peak_rss_mb"] for r in results), 1),
    } for name, results in runs.items()}
    print(json.dumps({
        "benchmark": "run-state rebuild",
        "events": args.events, "repeat": args.repeat, "generate_seconds": round(generated, 1),
        "baseline_read": summary["read"], "rebuild": summary["rebuild"], "prefix_quarter_fold": summary["prefix"],
        "rebuild_vs_read_throughput": round(summary["rebuild"]["events_per_s_median"] / summary["read"]["events_per_s_median"], 3),
        "peak_rss_full_vs_quarter": round(summary["rebuild"]["peak_rss_mb_median"] / summary["prefix"]["peak_rss_mb_median"], 3),
        "target_events_per_s": 200_000,
        "meets_target_wall": summary["rebuild"]["events_per_s_median"] >= 200_000,
        "meets_target_cpu": summary["rebuild"]["events_per_cpu_s_median"] >= 200_000,
        "load_average_1m": round(os.getloadavg()[0], 2),
    }, indent=2))


if __name__ == "__main__":
    main()

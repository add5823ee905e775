#!/usr/bin/env python3
"""Rebuild rate of the cost and metrics projections over a large log, against a baseline.

Writes an N-event log (default 1 000 000) straight into segment files with msgspec (going
through append would measure the writer, not the projections), then times, in the same run:
- baseline: decoding every line of the same files with the standard library's json.loads;
- each projection: `projections.engine.rebuild` (read, decode, fold, write views).
Prints one JSON object: medians over --repeats runs, events per second, and ratios to the
baseline. The target is at least 200 000 events/s for each projection.

    python3 scripts/bench/bench_cost_metrics.py [--events 1000000] [--repeats 3]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import msgspec  # noqa: E402

from eventlog import Event  # noqa: E402
from projections.cost import CostProjection  # noqa: E402
from projections.engine import rebuild  # noqa: E402
from projections.metrics import MetricsProjection  # noqa: E402

SEGMENT_BYTES = 50 * 1024 * 1024
TARGET = 200_000
MODELS = [("claude-sonnet-4", "anthropic"), ("claude-opus-4-5", "anthropic"), ("gpt-4o", "openai"),
          ("claude-haiku-4-5", "anthropic")]


def event_at(seq: int) -> Event:
    """A deterministic mix: 40 % token usage, 20 % gates, 20 % task ends, 20 % agents."""
    kind = seq % 10
    second = seq // 4
    stamp = f"2026-02-{21 + second // 86400 % 7:02d}T{second // 3600 % 24:02d}:{second // 60 % 60:02d}:{second % 60:02d}.{seq % 1000:03d}Z"
    if kind < 4:
        model, provider = MODELS[seq % len(MODELS)]
        typ, payload = "metric", {
            "action": "token_usage", "model": model, "provider": provider, "input_tokens": 1000 + seq % 997,
            "output_tokens": 200 + seq % 101, "cache_read_tokens": seq % 5000, "cache_write_tokens": seq % 700,
            "agent_type": ("engineer", "reviewer", "planner")[seq % 3], "task_id": f"task-{seq // 50 % 2000}",
            "session_id": f"session-{seq // 100_000}"}
    elif kind < 6:
        typ, payload = "quality", {"action": "gate", "gate": ("unit-tests", "lint", "types")[seq % 3],
                                   "result": "pass" if seq % 7 else "fail", "task_id": f"task-{seq // 50 % 2000}"}
    elif kind < 8:
        typ, payload = "task", {"action": "completed" if seq % 9 else "failed", "task_id": f"task-{seq // 50 % 2000}",
                                "duration_ms": seq * 7919 % 900_000}
    else:
        typ, payload = "agent", {"action": "start" if kind == 8 else "stop", "agent_id": f"agent-{seq % 13}",
                                 "agent_type": "engineer"}
    return Event(seq=seq, id=os.urandom(16).hex(), type=typ, source="runner", timestamp=stamp,
                 version="1.0", payload=payload)


def write_log(root: Path, count: int) -> int:
    """Write ``count`` events as format-v1 segments under ``root``; return the bytes written."""
    log_dir = root / "events" / "log"
    log_dir.mkdir(parents=True)
    encoder, buffer, first, total = msgspec.json.Encoder(), bytearray(), 1, 0
    for seq in range(1, count + 1):
        encoder.encode_into(event_at(seq), buffer, len(buffer))
        buffer += b"\n"
        if len(buffer) >= SEGMENT_BYTES or seq == count:
            (log_dir / f"{first:020d}.jsonl").write_bytes(buffer)
            total += len(buffer)
            first, buffer = seq + 1, bytearray()
    return total


def stdlib_baseline(root: Path) -> int:
    decoded = 0
    for segment in sorted((root / "events" / "log").glob("*.jsonl")):
        with open(segment, "rb") as handle:
            for line in handle:
                json.loads(line)
                decoded += 1
    return decoded


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=None, help="Where to write the log (default: a temp dir).")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="lokilog-bench-", dir=args.dir))
    root = work / ".loki"
    try:
        generate = time.perf_counter()
        size = write_log(root, args.events)
        generate = time.perf_counter() - generate
        results = {"baseline_stdlib_json_decode": [], "cost": [], "metrics": []}
        for _ in range(args.repeats):
            results["baseline_stdlib_json_decode"].append(timed(lambda: stdlib_baseline(root)))
            results["cost"].append(timed(lambda: rebuild(root, [CostProjection()])))
            results["metrics"].append(timed(lambda: rebuild(root, [MetricsProjection()])))
        print(json.dumps(report(args, size, generate, results), indent=2))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def report(args, size: int, generate: float, results: dict[str, list[float]]) -> dict:
    medians = {name: statistics.median(times) for name, times in results.items()}
    baseline_rate = args.events / medians["baseline_stdlib_json_decode"]
    figures = {}
    for name, seconds in medians.items():
        rate = args.events / seconds
        figures[name] = {"median_seconds": round(seconds, 3), "runs_seconds": [round(t, 3) for t in results[name]],
                         "events_per_second": round(rate), "ratio_to_baseline": round(rate / baseline_rate, 2)}
        if name != "baseline_stdlib_json_decode":
            figures[name]["meets_target"] = rate >= TARGET
    return {"events": args.events, "log_bytes": size, "repeats": args.repeats, "target_events_per_second": TARGET,
            "generate_seconds": round(generate, 2), "cpu_count": os.cpu_count(),
            "load_average": [round(x, 2) for x in os.getloadavg()], "results": figures}


if __name__ == "__main__":
    main()

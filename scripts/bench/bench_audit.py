"""Benchmark the audit chain: verify throughput (target >= 200 000 entries/s) against a hashlib baseline.

Usage: python3 scripts/bench/bench_audit.py [--entries 100000] [--repeat 5]
Prints one JSON object: medians over the repeats and ratios to the baseline measured in the same run
(the baseline is hashlib.sha256 over the same entry bodies in a plain Python loop, the floor any
Python verifier pays).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from eventlog import FileEventLog, LogSettings, NewEvent
from projections.audit import AuditSettings
from projections.audit.entry import split_line
from projections.audit.files import audit_dir, chain_files, iter_lines
from projections.audit.trail import verify_trail
from projections.audit.verify import verify_lines
from projections.audit.writer import sync_chain


def fill(loki: Path, n: int) -> None:
    settings = LogSettings(durability="never")
    with FileEventLog(loki, settings=settings) as log:
        for start in range(0, n, 10_000):
            log.append_many([NewEvent(type="task", source="runner",
                                      payload={"action": "completed", "task_id": f"t{i}", "agent_id": f"agent-{i % 8}",
                                               "path": f"src/module_{i % 100}.py", "duration_ms": i * 7})
                             for i in range(start, min(n, start + 10_000))])


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    n = args.entries
    with tempfile.TemporaryDirectory(prefix="bench-audit-") as scratch:
        loki = Path(scratch) / ".loki"
        fill(loki, n)
        settings = AuditSettings()
        write_s = timed(lambda: sync_chain(loki, settings))
        files = chain_files(audit_dir(loki))
        lines = list(iter_lines(files))
        bodies = [split_line(line)[0] for line in lines]
        sha = hashlib.sha256

        def baseline():
            for body in bodies:
                sha(body).hexdigest()

        def chain_only():
            assert verify_lines(iter_lines(files)).valid

        def in_memory():
            assert verify_lines(lines).valid

        def with_log():
            assert verify_trail(loki, settings).valid

        runs = {name: [timed(fn) for _ in range(args.repeat)] for name, fn in
                [("baseline_sha256", baseline), ("verify_chain", chain_only), ("verify_chain_in_memory", in_memory),
                 ("verify_with_log", with_log)]}
    median = {name: statistics.median(times) for name, times in runs.items()}
    rate = {name: round(n / t) for name, t in median.items()}
    print(json.dumps({
        "entries": n, "repeat": args.repeat, "bytes_per_entry": round(sum(map(len, lines)) / n),
        "write_entries_per_s": round(n / write_s),
        "entries_per_s": rate,
        "median_s": {k: round(v, 4) for k, v in median.items()},
        "ratio_to_baseline": {k: round(median[k] / median["baseline_sha256"], 2) for k in median},
        "target_entries_per_s": 200_000,
        "verify_chain_meets_target": rate["verify_chain"] >= 200_000,
    }, indent=2))


if __name__ == "__main__":
    main()

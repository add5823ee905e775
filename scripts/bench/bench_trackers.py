"""Benchmark the tracker sync: ops/s of a drain against a local fake GitHub, and what exactly-once costs.

Baseline, measured in the same run against the same server: the same number of bare httpx
POSTs (no read-back, no outcome events). The ratio is the price of looking before writing and
recording every outcome. Prints JSON; medians over repeated runs.

    python3 scripts/bench/bench_trackers.py [--ops 60] [--repeats 5]
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

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from eventlog import FileEventLog  # noqa: E402
from fake_trackers import GITHUB_TOKEN, FakeTrackers  # noqa: E402
from subscribers.trackers.config import load_trackers  # noqa: E402
from subscribers.trackers.sync import TrackerSync  # noqa: E402


def _prepare(loki: Path, url: str, ops: int) -> None:
    loki.mkdir(parents=True)
    (loki / "config.yaml").write_text(f"trackers:\n  github:\n    base_url: {url}\n")
    with FileEventLog(loki) as log:
        log.append("task", "runner", {"action": "created", "task_id": "t1"})
        log.append("tracker", "cli", {"action": "linked", "tracker": "github", "task_id": "t1", "ref": "acme/app#1"})
        log.append_many([{"type": "quality", "source": "runner",
                          "payload": {"action": "gate", "gate": f"g{n}", "result": "pass", "task_id": "t1"}}
                         for n in range(ops)])


def _drain_rate(base: Path, ops: int) -> float:
    fake = FakeTrackers()
    try:
        loki = Path(tempfile.mkdtemp(dir=base)) / ".loki"
        _prepare(loki, fake.url, ops)
        sync = TrackerSync(loki, load_trackers(loki)["github"], {"GITHUB_TOKEN": GITHUB_TOKEN})
        started = time.perf_counter()
        report = sync.run_once()
        elapsed = time.perf_counter() - started
        assert report.synced == ops and len(fake.gh_comments["acme/app#1"]) == ops
        return ops / elapsed
    finally:
        fake.stop()


def _bare_rate(ops: int) -> float:
    import httpx

    fake = FakeTrackers()
    try:
        with httpx.Client(base_url=fake.url, headers={"Authorization": f"Bearer {GITHUB_TOKEN}"}) as client:
            started = time.perf_counter()
            for n in range(ops):
                client.post("/repos/acme/app/issues/1/comments", json={"body": f"gate {n}"}).raise_for_status()
            return ops / (time.perf_counter() - started)
    finally:
        fake.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="lokilog-bench-trackers-", dir=os.environ.get("LOKILOG_BENCH_DIR", "/var/tmp")))
    try:
        _drain_rate(base, 1)  # warm-up: imports (httpx, ssl) are not what is measured
        drain = statistics.median(_drain_rate(base, args.ops) for _ in range(args.repeats))
        bare = statistics.median(_bare_rate(args.ops) for _ in range(args.repeats))
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print(json.dumps({
        "ops_per_drain": args.ops, "repeats": args.repeats,
        "drain_ops_per_s": round(drain, 1), "bare_post_per_s": round(bare, 1),
        "drain_to_bare_ratio": round(drain / bare, 3),
    }, indent=2))


if __name__ == "__main__":
    main()

"""Benchmark: the run-state projection alone on a realistic log, its state size and its view writes.

Writes `realistic_run.py`'s mix (default 1 000 000 events, 5 000 tasks) into a scratch `.loki/`,
then, each in a fresh process:

- ``state``: the run state's memory (tracemalloc: what dropping the state frees) and encoded
  size after folding the first tenth of the log and all of it (at a fixed number of tasks the
  state must not grow with the log);
- ``save``: a runner kept in memory (as `lokilog watch` keeps one) folds 1 000 events at a time
  and writes its views (`tasks.json`, `summary.json`); the baseline, timed in the same process
  after each save, is writing the same bytes again with the same atomic write (the I/O alone).

    python3 scripts/bench/run_state_views.py [--events 1000000] [--tasks 5000] [--steps 7]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import ROOT, scratch_dir  # noqa: E402
from realistic_run import write_run  # noqa: E402

CHILD = r"""
import gc, json, statistics, sys, time, tracemalloc
from pathlib import Path
from eventlog import FileEventLog
from eventlog.fsutil import atomic_write
from projections.engine import Runner
from projections.engine.snapshots import encode_state
from projections.run_state import RunStateProjection
mode, root, arg = sys.argv[1], sys.argv[2], int(sys.argv[3])
out = {}
with FileEventLog(root) as log:
    runner = Runner(root, RunStateProjection(), log=log, fresh=True, snapshot_every=0)
    if mode == "state":
        tracemalloc.start()
        runner.advance(arg or None)
        gc.collect()
        held = tracemalloc.get_traced_memory()[0]
        state = runner.outcome.state
        out = {"seq": state.seq, "encoded_bytes": len(encode_state(state)),
               "transitions": sum(len(t.history) for t in state.tasks.values()), "tasks": len(state.tasks)}
        runner.outcome.state = state = None
        gc.collect()
        out["state_mb"] = round((held - tracemalloc.get_traced_memory()[0]) / 2**20, 2)
    else:
        head, views = log.head_seq, Path(root) / "state" / "run"
        runner.advance(head - 1000 * arg)
        runner.save(views=True, snapshot=False, overwrite=True)
        saves, writes = [], []
        for step in range(arg):
            runner.advance(head - 1000 * (arg - step - 1))
            started = time.perf_counter()
            runner.save(views=True, snapshot=False, overwrite=True)
            saves.append((time.perf_counter() - started) * 1e3)
            blobs = [(views / name, (views / name).read_bytes()) for name in ("tasks.json", "summary.json")]
            started = time.perf_counter()
            for path, data in blobs:
                atomic_write(path, data, durable=False)
            writes.append((time.perf_counter() - started) * 1e3)
        out = {"save_ms_median": round(statistics.median(saves), 2), "save_ms": [round(s, 2) for s in saves],
               "baseline_write_ms_median": round(statistics.median(writes), 2),
               "bytes": {path.name: len(data) for path, data in blobs}}
print(json.dumps(out))
"""


def child(mode: str, root: Path, arg: int) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", CHILD, mode, str(root), str(arg)], env=env,
                         capture_output=True, text=True, timeout=1800)
    if out.returncode:
        raise SystemExit(f"child {mode} failed:\n{out.stderr}")
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--tasks", type=int, default=5000)
    parser.add_argument("--steps", type=int, default=7)
    args = parser.parse_args()
    with scratch_dir("lokilog-bench-run-state-") as scratch:
        root = scratch / ".loki"
        write_run(root, args.events, args.tasks)
        tenth, full = child("state", root, args.events // 10), child("state", root, 0)
        save = child("save", root, args.steps)
    print(json.dumps({
        "benchmark": "run-state alone: state size and view writes",
        "events": args.events, "tasks": args.tasks,
        "state_tenth": tenth, "state_full": full,
        "state_full_vs_tenth": round(full["state_mb"] / tenth["state_mb"], 3),
        "save_after_1000_events": save,
        "save_vs_baseline_write": round(save["save_ms_median"] / save["baseline_write_ms_median"], 2),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }, indent=2))


if __name__ == "__main__":
    main()

"""The `eventsourcing` library's application save and get rates on its own persistence modules
(eventsourcing.popo in memory, eventsourcing.sqlite) and on lokilog, in one run.

Usage: python scripts/bench/bench_eventsourcing.py [--quick]
Needs the extra: pip install -e '.[eventsourcing]'.

Each backend runs in a fresh child process (so no backend warms another's caches), over a fresh
directory on a disk-backed file system; the rounds alternate between backends and each figure
is the median of the rounds. "durable" means an acknowledged save survives power loss:
eventsourcing.sqlite with SQLite's defaults (WAL, synchronous=FULL), lokilog with
LOKI_EVENTS_DURABILITY=always (its default). lokilog "not durable" (durability never) survives a
crash of the process but not of the machine. A save is one new aggregate with 5 events (one
atomic batch), a get reconstructs one of them from its 5 events; the threaded figure is the
same saves made by 4 threads at once.

Prints JSON: saves/s, events/s, gets/s per backend, and ratios against sqlite durable.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

from common import ROOT, emit, scratch_dir

BACKENDS = {
    "popo": {"PERSISTENCE_MODULE": "eventsourcing.popo"},
    "sqlite_durable": {"PERSISTENCE_MODULE": "eventsourcing.sqlite"},
    "lokilog_durable": {"PERSISTENCE_MODULE": "eventlog.integrations.eventsourcing",
                        "LOKI_EVENTS_DURABILITY": "always"},
    "lokilog_not_durable": {"PERSISTENCE_MODULE": "eventlog.integrations.eventsourcing",
                            "LOKI_EVENTS_DURABILITY": "never"},
}

CHILD = r'''
import json, sys, time
from concurrent.futures import ThreadPoolExecutor
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

class Task(Aggregate):
    @event("Created")
    def __init__(self, title):
        self.title = title
        self.notes = []
    @event("Started")
    def start(self):
        self.status = "started"
    @event("Noted")
    def note(self, text):
        self.notes.append(text)
    @event("Finished")
    def finish(self):
        self.status = "done"

count = int(sys.argv[1])
app = Application()
for _ in range(10):  # warm up
    task = Task("warm"); app.save(task)

def save(n):
    task = Task(f"task {n}")
    task.start(); task.note("plan"); task.note("build"); task.finish()
    app.save(task)
    return task.id

started = time.perf_counter()
ids = [save(n) for n in range(count)]
saved = time.perf_counter() - started
started = time.perf_counter()
for task_id in ids:
    assert app.repository.get(task_id).version == 5
got = time.perf_counter() - started
# The same saves from 4 threads at once (an application serving concurrent requests).
with ThreadPoolExecutor(max_workers=4) as pool:
    started = time.perf_counter()
    assert len(list(pool.map(save, range(count)))) == count
    threaded = time.perf_counter() - started
print(json.dumps({"saves_per_s": count / saved, "events_per_s": 5 * count / saved, "gets_per_s": count / got,
                  "saves_per_s_4_threads": count / threaded}))
'''


def run_child(name: str, directory, count: int) -> dict:
    env = dict(os.environ)
    env.pop("LOKI_DIR", None)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(BACKENDS[name])
    env["SQLITE_DBNAME"] = str(directory / "events.sqlite")
    env["LOKI_DIR"] = str(directory / ".loki")
    done = subprocess.run([sys.executable, "-c", CHILD, str(count)], env=env, capture_output=True, text=True,
                          timeout=600, check=True)
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer saves and rounds (a smoke run)")
    args = parser.parse_args()
    count, rounds = (100, 2) if args.quick else (500, 5)
    samples: dict[str, list[dict]] = {name: [] for name in BACKENDS}
    for round_number in range(rounds):
        for name in BACKENDS:
            with scratch_dir(f"bench-es-{name}-") as directory:
                samples[name].append(run_child(name, directory, count))
    results: dict = {"saves_per_round": count, "rounds": rounds, "events_per_save": 5,
                     "machine": "shared, loaded 2-core machine; medians of alternating rounds"}
    for name, runs in samples.items():
        results[name] = {key: round(statistics.median(r[key] for r in runs), 1) for key in runs[0]}
    base = results["sqlite_durable"]
    results["ratios_vs_sqlite_durable"] = {
        name: {key: round(results[name][key] / base[key], 2) for key in base}
        for name in BACKENDS if name != "sqlite_durable"
    }
    lokilog = results["ratios_vs_sqlite_durable"]["lokilog_durable"]
    results["goal_lokilog_durable_saves_ge_1_5x_sqlite"] = {
        "one_thread": lokilog["saves_per_s"] >= 1.5, "four_threads": lokilog["saves_per_s_4_threads"] >= 1.5}
    emit(results)


if __name__ == "__main__":
    main()

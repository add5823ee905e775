"""Benchmark: every projection rebuilt in one pass, against the raw envelope scan of the same log.

Writes a synthetic run with a realistic mix of docs/EVENTS.md's vocabulary (`realistic_run.py`:
mostly task, metric.token_usage, quality.gate and state.phase over a fixed pool of tasks; a few
checkpoints, errors, approvals and tracker links) into a scratch `.loki/`, then measures, each
child in a fresh process (so peak RSS is its own), medians over --repeat runs:

- ``scan``: the baseline, reading every envelope with no fold (``FileEventLog.read_raw``);
- ``rebuild_cli``: ``lokilog rebuild --json`` (all projections, one command, process start
  included) on a `.loki/` whose projections already exist (what a user runs after a crash);
  the audit chain and Merkle tree take their states from the block memos the previous rebuild
  left (`projections/engine/blocks.py`);
- ``rebuild_cli_no_memos``: the same with those memos removed first, so the audit folds hash
  every event again (a first rebuild, or a log whose bytes changed);
- ``rebuild_cli_without_audit``: ``lokilog rebuild`` of every projection but those two;
- ``one_pass_per_projection``: the same projections rebuilt one at a time (a pass each), the
  shape of the engine before it folded them together;
- ``memory``: peak RSS of folding all projections over the first tenth of the log and over all
  of it, with the same pool of tasks (the state is bounded; what still grows is listed by the
  size of each projection's encoded state);
- ``catch_up``: 1 000 new events on the full log with every projection current, folded and
  their views written, ten times over by runners kept in memory (as `lokilog watch` keeps them) and
  once cold (snapshots loaded first, as a one-shot `catch_up` does);
- ``watch``: `scripts/bench/watch_latency.py --all`, append-to-`tasks.json` latency with every
  projection and enabled subscriber running.

    python3 scripts/bench/projection_rebuild.py [--events 1000000] [--tasks 5000] [--repeat 3]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from itertools import islice
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import ROOT, scratch_dir  # noqa: E402
from realistic_run import drafts, write_run  # noqa: E402

CHILD = r"""
import json, resource, sys, time
started = time.perf_counter()
from eventlog import FileEventLog
from projections.engine import Runner, RunnerGroup, rebuild
from projections.registry import all_projections
from projections.engine.snapshots import encode_state
mode, root, arg = sys.argv[1], sys.argv[2], int(sys.argv[3])
out = {}
if mode == "scan":
    started = time.perf_counter()
    with FileEventLog(root) as log:
        n = sum(1 for _ in log.read_raw())
elif mode == "separate":
    n = max(rebuild(root, [p])[0].seq for p in all_projections())
elif mode == "memory":
    with FileEventLog(root) as log:
        runners = [Runner(root, p, log=log, fresh=True, snapshot_every=0) for p in all_projections()]
        RunnerGroup(runners, log).advance(arg or None)
        out["state_bytes"] = {r.projection.name: len(encode_state(r.outcome.state)) for r in runners}
        n = max(r.outcome.seq for r in runners)
elif mode == "per_projection":
    from itertools import chain
    from projections.engine.fold import FoldOutcome, Lane, fold_lanes, wanted_types
    with FileEventLog(root) as log:
        events = list(chain.from_iterable(log.read_batches(1, arg)))
    costs = {}
    for p in all_projections():
        lane = Lane(p, FoldOutcome(p.initial(), 0), lambda seq: None)
        kinds = wanted_types([lane])
        mine = events if kinds is None else [e for e in events if e.type in kinds]
        begun = time.perf_counter()
        fold_lanes([lane], mine)
        costs[p.name] = round((time.perf_counter() - begun) / len(events) * 1e9)
    out["fold_ns_per_log_event"] = costs
    n = len(events)
elif mode == "catch_up":
    import os
    new = [json.loads(line) for line in sys.stdin]
    with FileEventLog(root) as log:
        cold = time.perf_counter()
        runners = [Runner(root, p, log=log) for p in all_projections()]
        group = RunnerGroup(runners, log)
        group.advance()
        for r in runners:
            r.save(views=True, snapshot=False)
        out["cold_ms"] = (time.perf_counter() - cold) * 1e3  # nothing new: loading snapshots, views
        times = []
        for batch in range(0, len(new), 1000):
            log.append_many(new[batch:batch + 1000])
            warm = time.perf_counter()
            group.advance()
            for r in runners:
                r.save(views=True, snapshot=False)
            times.append((time.perf_counter() - warm) * 1e3)
        out["warm_ms"] = times
        for r in runners:
            r.save(force=True)
            r.close()
    with FileEventLog(root) as log:
        log.append_many(new[:1000])
    cold = time.perf_counter()
    with FileEventLog(root) as log:
        runners = [Runner(root, p, log=log) for p in all_projections()]
        RunnerGroup(runners, log).advance()
        for r in runners:
            r.save(views=True, snapshot=False)
            r.close()
    out["cold_1000_ms"] = (time.perf_counter() - cold) * 1e3
    n = 1000
seconds = time.perf_counter() - started
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"events": n, "seconds": seconds, "peak_rss_mb": usage.ru_maxrss / 1024, **out}))
"""


#: Warm catch-ups of 1 000 events timed (the median is reported, and the slowest).
CATCH_UP_BATCHES = 10


def child(mode: str, root: Path, arg: int = 0, stdin: str | None = None) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", CHILD, mode, str(root), str(arg)], env=env, input=stdin,
                         capture_output=True, text=True, timeout=1800)
    if out.returncode:
        raise SystemExit(f"child {mode} failed:\n{out.stderr}")
    return json.loads(out.stdout)


def rebuild_cli(root: Path, names: tuple[str, ...] = ()) -> dict:
    lokilog = Path(sys.executable).with_name("lokilog")
    command = [str(lokilog)] if lokilog.exists() else [sys.executable, "-m", "commands.cli"]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    started = time.perf_counter()
    out = subprocess.run([*command, "--loki-dir", str(root), "rebuild", *names, "--json"], env=env,
                         capture_output=True, text=True, check=True, timeout=1800)
    seconds = time.perf_counter() - started
    rebuilt = json.loads(out.stdout)["rebuilt"]
    return {"events": max(r["seq"] for r in rebuilt), "seconds": seconds}


def without_audit() -> tuple[str, ...]:
    """Every projection but the audit chain and its Merkle tree (one process: nothing to fork for)."""
    sys.path.insert(0, str(ROOT))
    from projections.parallel import CHILD_GROUP
    from projections.registry import all_projections

    return tuple(p.name for p in all_projections() if p.name not in CHILD_GROUP)


def forget_memos(root: Path) -> None:
    for path in (root / "projections").glob("*/blocks.msgpack"):
        path.unlink()


def rate(results: list[dict]) -> dict:
    return {
        "events": results[0]["events"],
        "seconds_median": round(statistics.median(r["seconds"] for r in results), 3),
        "events_per_s_median": round(statistics.median(r["events"] / r["seconds"] for r in results)),
    }


def watch_latency(repeat: int) -> dict:
    out = subprocess.run([sys.executable, str(HERE / "watch_latency.py"), "--all", "--repeat", str(repeat),
                          "--events", "200"], capture_output=True, text=True, check=True, timeout=1800)
    report = json.loads(out.stdout)
    report.pop("runs", None)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--tasks", type=int, default=5_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-watch", action="store_true", help="Leave out the watch latency run.")
    args = parser.parse_args()
    with scratch_dir("lokilog-bench-rebuild-") as scratch:
        root = scratch / ".loki"
        started = time.perf_counter()
        write_run(root, args.events, args.tasks)
        generated = time.perf_counter() - started
        rebuild_cli(root)  # the first build also writes the audit chain; rebuilds find it in place
        runs: dict[str, list[dict]] = {"scan": [], "rebuild_cli": [], "rebuild_cli_no_memos": [],
                                       "rebuild_cli_without_audit": [],
                                       "one_pass_per_projection": []}
        for _ in range(args.repeat):
            runs["scan"].append(child("scan", root))
            runs["rebuild_cli"].append(rebuild_cli(root))
            forget_memos(root)
            runs["rebuild_cli_no_memos"].append(rebuild_cli(root))  # and leaves the memos for the next run
            runs["rebuild_cli_without_audit"].append(rebuild_cli(root, without_audit()))
        runs["one_pass_per_projection"].append(child("separate", root))
        costs = child("per_projection", root, min(args.events, 200_000))["fold_ns_per_log_event"]
        tenth = child("memory", root, args.events // 10)
        full = child("memory", root, 0)
        # The run goes on: the next events of the same mix.
        # Ten wake-ups at least: the first warm one also pays for what the views remember.
        more = islice(drafts(args.events + 1000 * CATCH_UP_BATCHES, args.tasks), args.events, None)
        catch = child("catch_up", root, 0, "".join(json.dumps(d) + "\n" for d in more))
    summary = {name: rate(results) for name, results in runs.items()}
    scan, cli = summary["scan"]["events_per_s_median"], summary["rebuild_cli"]["events_per_s_median"]
    print(json.dumps({
        "benchmark": "all projections rebuilt in one pass",
        "events": args.events, "tasks": args.tasks, "repeat": args.repeat,
        "generate_seconds": round(generated, 1),
        "baseline_envelope_scan": summary["scan"],
        "rebuild_cli": summary["rebuild_cli"],
        "rebuild_cli_no_memos": summary["rebuild_cli_no_memos"],
        "rebuild_cli_without_audit": summary["rebuild_cli_without_audit"],
        "one_pass_per_projection": summary["one_pass_per_projection"],
        "rebuild_vs_scan": round(cli / scan, 3),
        "rebuild_vs_one_pass_each": round(cli / summary["one_pass_per_projection"]["events_per_s_median"], 2),
        "target_rebuild_events_per_s": 400_000, "meets_rebuild_target": cli >= 400_000,
        # Where a rebuild's time goes: each fold alone, per event of the log (decoding excluded).
        "fold_ns_per_log_event": costs,
        "memory": {
            "peak_rss_mb_tenth": round(tenth["peak_rss_mb"], 1), "peak_rss_mb_full": round(full["peak_rss_mb"], 1),
            "full_vs_tenth": round(full["peak_rss_mb"] / tenth["peak_rss_mb"], 3),
            "state_bytes_tenth": tenth["state_bytes"], "state_bytes_full": full["state_bytes"],
            "meets_target": full["peak_rss_mb"] <= 1.1 * tenth["peak_rss_mb"],
        },
        "catch_up_1000": {
            "warm_ms_median": round(statistics.median(catch["warm_ms"]), 2),
            "warm_ms_max": round(max(catch["warm_ms"]), 2), "warm_batches": len(catch["warm_ms"]),
            "cold_ms_nothing_new": round(catch["cold_ms"], 1),
            "cold_ms_1000_new": round(catch["cold_1000_ms"], 1),
            "target_ms": 50, "meets_target_warm": statistics.median(catch["warm_ms"]) < 50,
        },
        "watch": None if args.skip_watch else watch_latency(args.repeat),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }, indent=2))


if __name__ == "__main__":
    main()

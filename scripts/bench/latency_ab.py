"""Append on machine A, folded on machine B: the latency half of bench_bridge.py.

A is a `.loki/` replicated by a real `lokilog bridge` process; B is a view following the
stream (StreamFollower + Watcher, what `lokilog watch --from` runs), in this process so that
the fold's moment is read from the watch cycle itself. Two moments count, from the time taken
just before A's append (the append's own fsync included): the event in B's log, and the event
folded by B's watch cycle (every projection, as `watch --from` runs). The baseline is a
Watcher over A's twin without NATS: the same appends, the same projections, folded locally.
"""
from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from common import ROOT  # noqa: F401 (puts the checkout on sys.path)

from eventlog import FileEventLog  # noqa: E402
from projections.registry import all_projections  # noqa: E402
from subscribers.watch import Watcher  # noqa: E402

WAIT_SECONDS = 60.0


class Probe:
    """Collects, per watch cycle, how long after its append each newly folded event was folded."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.after = 0
        self.latencies_ns: list[int] = []
        self.log = FileEventLog(root)

    def __call__(self, report) -> None:
        # Only what this cycle folded: events appended since then wait for the next cycle.
        head = min((p.seq for p in report.projections), default=self.after)
        if head <= self.after:
            return
        for event in self.log.read(self.after + 1, head, ingest=False):
            sent = event.payload.get("sent_ns")
            if isinstance(sent, int):
                self.latencies_ns.append(report.folded_ns - sent)
        self.after = head


def _watch(root: Path, probe: Probe) -> tuple[Watcher, threading.Thread]:
    watcher = Watcher(root, all_projections(), [], poll_interval=2.0, on_cycle=probe)
    thread = threading.Thread(target=watcher.run, daemon=True)
    thread.start()
    return watcher, thread


def _append_paced(root: Path, count: int, interval: float) -> None:
    log = FileEventLog(root)
    for i in range(count):
        started = time.perf_counter()
        log.append(type="task", source="runner", stream=f"task-{i}",
                   payload={"action": "start", "task_id": f"t{i}", "sent_ns": time.time_ns()})
        time.sleep(max(0.0, interval - (time.perf_counter() - started)))
    log.close()


def _wait(probe: Probe, count: int) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while len(probe.latencies_ns) < count and time.monotonic() < deadline:
        time.sleep(0.05)


def one_local(work: Path, count: int, interval: float) -> list[int]:
    root = work / "local" / ".loki"
    FileEventLog(root).append(type="session", source="runner", payload={"action": "start"})
    probe = Probe(root)
    watcher, thread = _watch(root, probe)
    try:
        time.sleep(0.5)
        _append_paced(root, count, interval)
        _wait(probe, count)
    finally:
        watcher.stop()
        thread.join(10)
    return probe.latencies_ns


def _arrivals(log: FileEventLog, marks: list[tuple[int, int]]) -> list[int]:
    """For each probe event of the view: ns from its append on A to its append into B's log."""
    out, marks = [], sorted(marks, key=lambda m: m[1])
    i = 0
    for event in log.read(ingest=False):
        sent = event.payload.get("sent_ns")
        while i < len(marks) and marks[i][1] < event.seq:
            i += 1
        if isinstance(sent, int) and i < len(marks):
            out.append(marks[i][0] - sent)
    return out


def one_bridged(url: str, work: Path, count: int, interval: float) -> tuple[list[int], list[int]]:
    from subscribers.nats.follow import FollowerThread, StreamFollower

    a, b = work / "a" / ".loki", work / "b"
    FileEventLog(a).append(type="session", source="runner", payload={"action": "start"})
    bridge = subprocess.Popen([sys.executable, "-m", "commands", "--loki-dir", str(a), "bridge", url],
                              cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    probe = Probe(b)
    follower = StreamFollower(b, url, "LOKI")
    probe.log = follower.log
    watcher, thread = _watch(b, probe)
    marks: list[tuple[int, int]] = []  # (ns, B's head) after each batch the follower appended

    def appended(_count: int) -> None:
        marks.append((time.time_ns(), follower.log.head_seq))
        watcher.wake.set()
    follower.on_append = appended
    following = FollowerThread(follower).start()
    try:
        deadline = time.monotonic() + WAIT_SECONDS
        while follower.appended < 1 and time.monotonic() < deadline:  # the bridge and the follower are up
            time.sleep(0.05)
        _append_paced(a, count, interval)
        _wait(probe, count)
    finally:
        following.stop()
        watcher.stop()
        thread.join(10)
        bridge.terminate()
        bridge.wait(20)
    return _arrivals(follower.log, marks), probe.latencies_ns


def _stats(samples_ms: list[float]) -> dict:
    ordered = sorted(samples_ms)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else None
    return {"p50_ms": round(pick(0.5), 2), "p99_ms": round(pick(0.99), 2), "max_ms": round(ordered[-1], 2),
            "samples": len(ordered)}


def latency_pair(url: str, work: Path, count: int, interval: float, repeats: int) -> dict:
    """Medians over ``repeats`` of p50/p99: A -> B's log, A -> folded on B, and the local baseline."""
    import logging

    logging.getLogger("lokilog.watch").setLevel(logging.ERROR)  # the follower's wait for the stream
    runs = {"bridged_in_view_log": [], "bridged_folded": [], "local_folded": []}
    for r in range(repeats):
        runs["local_folded"].append(_stats([x / 1e6 for x in one_local(work / f"l{r}", count, interval)]))
        asyncio.run(_drop(url))
        arrived, folded = one_bridged(url, work / f"b{r}", count, interval)
        runs["bridged_in_view_log"].append(_stats([x / 1e6 for x in arrived]))
        runs["bridged_folded"].append(_stats([x / 1e6 for x in folded]))
    med = lambda kind, key: round(statistics.median(run[key] for run in runs[kind]), 2)
    out = {"events": count, "interval_ms": interval * 1000, "repeats": repeats}
    for kind in runs:
        out[f"{kind}_p50_ms"], out[f"{kind}_p99_ms"] = med(kind, "p50_ms"), med(kind, "p99_ms")
    out["ratio_p99_bridged_folded_to_local_folded"] = round(
        med("bridged_folded", "p99_ms") / max(med("local_folded", "p99_ms"), 1e-3), 2)
    out["lost"] = sum(count - run["samples"] for run in runs["bridged_folded"])
    out["runs"] = runs
    return out


async def _drop(url: str) -> None:
    from subscribers.nats.jetstream import connect

    nc = await connect(url)
    try:
        await nc.jetstream().delete_stream("LOKI")
    except Exception:
        pass
    await nc.close()

"""Clock skew and duplicate timestamps: order and exactly-once come from seq, never from clocks.

Writers whose clocks are an hour behind, an hour ahead, or frozen on one timestamp append
together, some of them through the drop box (a lock bound of 1 ms sends many events there,
where files are named by timestamp). Every acknowledged event must be stored exactly once,
seqs dense, and each writer's directly appended events must keep the order it wrote them in,
whatever their timestamps say.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from scripts.torture.common import HANG_SECONDS, Result, acked_ids, child_env, python_writer, score, scratch
from eventlog import FileEventLog

WRITERS = {
    "behind": ["--skew", "-3600"],
    "ahead": ["--skew", "3600"],
    "frozen": ["--same-ts", "2026-01-01T00:00:00.000Z"],
    "frozen2": ["--same-ts", "2026-01-01T00:00:00.000Z", "--ids"],
    "exact": [],
}


def _trial(root: Path, count: int, result: Result) -> None:
    procs = {}
    for tag, extra in WRITERS.items():
        lock_bound = "0.001" if tag in ("behind", "frozen") else "5"
        procs[tag] = subprocess.Popen(python_writer(root, tag, count, *extra), stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, env=child_env(LOKI_EVENTS_LOCK_TIMEOUT=lock_bound))
    acked = []
    for tag, proc in procs.items():
        out, err = proc.communicate(timeout=HANG_SECONDS * 6)
        text = out.decode()
        acked += acked_ids(text)
        for line in text.splitlines():
            parts = line.split()
            if parts[:1] == ["ACK"]:
                result.stall(float(parts[3]))
            else:
                result.fail(f"{tag}: {line}")
        if proc.returncode:
            result.fail(f"{tag}: exit {proc.returncode}: {err.decode()[-200:]}")
    score(result, root, acked)
    _check_order(root, result)


def _check_order(root: Path, result: Result) -> None:
    """Each writer's events that were appended directly keep the writer's order in seq."""
    last: dict[str, int] = {}
    with FileEventLog(root) as log:
        # The drop box is named by timestamp, then id: events parked there are ingested in
        # that order, the only order a file name can carry. Their exactly-once is checked.
        parked = {p.name.rsplit("_", 1)[1].removesuffix(".json").removesuffix(".lokilog") for p in log.paths.archive.glob("*.json")}
        if not parked:
            result.fail("no event went through the drop box: the scenario did not exercise it")
        for event in log.read():
            writer, n = event.source, event.payload.get("n")
            if event.id in parked or not isinstance(n, int):
                continue
            if n < last.get(writer, -1):
                result.fail(f"{writer}: event n={n} (seq {event.seq}) stored after n={last[writer]}")
            last[writer] = n


def run(trials: int = 2, seed: int = 0) -> Result:
    """Run ``trials`` rounds of skewed writers; return the table row."""
    result = Result("clock skew")
    with scratch() as work:
        for number in range(trials):
            _trial(work / f"t{number}" / ".loki", 150, result)
            result.trials += 1
    return result


if __name__ == "__main__":
    from scripts.torture.run import main_for
    sys.exit(main_for("clock_skew"))

"""Group commit under power loss: several durable writers at once, crash images cut anywhere
after the last completed fsync.

Each trial runs WRITERS processes (scripts/torture/group_writer.py) appending to one log with
durability `always`, each logging a timeline: its segment writes, its successful fsyncs (and
the segment size when each began), its sidecar rewrites and its acknowledgements, all with
the system-wide monotonic clock. Then:

1. **No acknowledgement without coverage.** For every acknowledged event, some fsync (by any
   writer) began after the event's bytes were written and returned before the
   acknowledgement, and its size covered them.
2. **Power loss at any moment.** For a cut at time t, the disk holds the segment up to at
   least the size covered by the last fsync that returned before t, plus any prefix of what
   was written after it, and the tail sidecar (never fsynced under group commit) as any
   version written before t, or none. `log.sync` is lost or kept. Each image is recovered
   in a new boot: every event acknowledged before t must be there exactly once, seqs dense,
   no torn line read, the log must verify, and the next append must get the next seq.
"""
from __future__ import annotations

import bisect
import os
import random
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from scripts.torture.common import HANG_SECONDS, Result, child_env, scratch
from eventlog import EventLogError, FileEventLog
from eventlog import syncrecord
from eventlog.tailmark import TailMark, format_mark, parse_mark
from eventlog.verify import verify_log

WRITERS = 4
APPENDS = 25
CUTS_PER_TRIAL = 40


@dataclass
class Timeline:
    writes: list[tuple[float, int]] = field(default_factory=list)  # (t, end)
    syncs: list[tuple[float, float, int]] = field(default_factory=list)  # (t0, t1, size)
    marks: list[tuple[float, bytes]] = field(default_factory=list)
    acks: list[tuple[float, str]] = field(default_factory=list)


def read_timelines(paths: list[Path], inode: int) -> Timeline:
    line = Timeline()
    for path in paths:
        for row in path.read_text().splitlines():
            parts = row.split()
            if parts[0] == "w" and int(parts[2]) == inode:
                line.writes.append((float(parts[1]), int(parts[3])))
            elif parts[0] == "s" and int(parts[3]) == inode:
                line.syncs.append((float(parts[1]), float(parts[2]), int(parts[4])))
            elif parts[0] == "m":
                line.marks.append((float(parts[1]), bytes.fromhex(parts[2])))
            elif parts[0] == "a":
                line.acks.extend((float(parts[1]), i) for i in parts[2:])
    for items in (line.writes, line.syncs, line.marks, line.acks):
        items.sort()
    return line


def line_ends(data: bytes) -> dict[str, int]:
    """id -> the offset where its line ends, from the final segment."""
    import json

    ends, offset = {}, 0
    for raw in data.splitlines(keepends=True):
        offset += len(raw)
        ends[json.loads(raw)["id"]] = offset
    return ends


def check_coverage(line: Timeline, ends: dict[str, int], result: Result) -> None:
    """Invariant 1: every acknowledgement follows an fsync that began after its bytes were written."""
    for t_ack, event_id in line.acks:
        end = ends.get(event_id)
        if end is None:
            result.lost += 1
            result.fail(f"acknowledged {event_id} is not in the log at all")
            continue
        written = min((t for t, e in line.writes if e >= end), default=None)
        covered = written is not None and any(t0 >= written and t1 <= t_ack and size >= end
                                              for t0, t1, size in line.syncs)
        if not covered:
            result.fail(f"{event_id} acknowledged at {t_ack:.6f} without an fsync covering it")


def durable_at(line: Timeline, t: float) -> int:
    return max((size for _, t1, size in line.syncs if t1 <= t), default=0)


def written_by(line: Timeline, t: float, total: int) -> int:
    """An upper bound of the segment's size at t: the end of the first write returning after t."""
    later = [e for wt, e in line.writes if wt >= t]
    return min(later) if later else total


def run_trial(work: Path, trial: int, seed: int, result: Result, rng: random.Random) -> None:
    root = work / f"t{trial}" / ".loki"
    timelines = [work / f"t{trial}-{w}.timeline" for w in range(WRITERS)]
    writer = str(Path(__file__).with_name("group_writer.py"))
    children = [subprocess.Popen([sys.executable, writer, str(root), str(path), str(APPENDS), str(seed * 100 + w)],
                                 env=child_env(), stderr=subprocess.PIPE)
                for w, path in enumerate(timelines)]
    for child in children:
        try:
            _, err = child.communicate(timeout=HANG_SECONDS * 6)
        except subprocess.TimeoutExpired:
            child.kill()
            child.communicate()
            result.stall(HANG_SECONDS * 6)
            result.fail(f"trial {trial}: a writer hung")
            return
        if child.returncode:
            result.fail(f"trial {trial}: a writer failed: {err.decode(errors='replace')[-300:]}")
    segment = root / "events" / "log" / "00000000000000000001.jsonl"
    data = segment.read_bytes()
    line = read_timelines(timelines, os.stat(segment).st_ino)
    ends = line_ends(data)
    result.acknowledged += len(line.acks)
    check_coverage(line, ends, result)
    moments = sorted(rng.sample([t for t, _ in line.acks] + [t1 for _, t1, _ in line.syncs],
                                min(CUTS_PER_TRIAL, len(line.acks))))
    for t in moments:
        low, high = durable_at(line, t), written_by(line, t, len(data))
        cut = rng.choice([low, high, rng.randint(low, max(low, high))])
        marks = [m for mt, m in line.marks if mt <= t]
        mark = rng.choice([None, *marks[-3:], *(marks[:1])]) if marks else None
        acked = {i for at, i in line.acks if at <= t}
        image = work / "image" / ".loki"
        shutil.rmtree(image.parent, ignore_errors=True)
        shutil.copytree(root, image, symlinks=True)
        (image / "events" / "log" / segment.name).write_bytes(data[:cut])
        tail = image / "events" / "log.tail"
        tail.unlink(missing_ok=True)
        if mark is not None:  # on the real disk the segment keeps its inode: so must the copy
            old = parse_mark(mark)
            inode = os.stat(image / "events" / "log" / segment.name).st_ino
            tail.write_bytes(format_mark(TailMark(old.segment, inode, old.size, old.last_seq)) if old else mark)
        if rng.random() < 0.5:
            (image / "events" / "log.sync").unlink(missing_ok=True)
        check_image(image, acked, f"trial {trial}, cut at {cut} (durable {low}, written {high})", result)
        result.trials += 1


def check_image(image: Path, acked: set[str], label: str, result: Result) -> None:
    problems = []
    saved = syncrecord._boot
    syncrecord._boot = os.urandom(16)  # the machine rebooted: another boot id
    try:
        with FileEventLog(image) as log:
            log.recover()
            bad = []
            events = list(log.read(on_bad_line=bad.append))
            problems += [f"torn or bad line read at {b.offset}: {b.reason}" for b in bad]
            result.torn_read += len(bad)
            problems += [f.describe() for f in verify_log(log.paths).findings]
            head = events[-1].seq if events else 0
            after = log.append("task", "after-recovery").seq
            if after != head + 1:
                problems.append(f"the next append got seq {after}, not {head + 1}")
    except EventLogError as exc:
        problems.append(f"recovery failed: {type(exc).__name__}: {exc}")
        events = []
    finally:
        syncrecord._boot = saved
    ids = [e.id for e in events]
    if [e.seq for e in events] != list(range(1, len(events) + 1)):
        problems.append("seqs are not dense")
    lost = sorted(acked - set(ids))
    dups = sorted({i for i in ids if ids.count(i) > 1})
    result.lost += len(lost)
    result.duplicated += len(dups)
    problems += [f"acknowledged {i} lost" for i in lost[:3]] + [f"{i} stored twice" for i in dups[:3]]
    for problem in problems:
        result.fail(f"{label}: {problem}")


def run(trials: int = 2, seed: int = 0) -> Result:
    result = Result("group commit: power loss, concurrent writers")
    rng = random.Random(seed)
    with scratch() as work:
        for trial in range(trials):
            run_trial(work, trial, seed, result, rng)
    return result


if __name__ == "__main__":
    from scripts.torture.run import main_for
    sys.exit(main_for("group_commit"))

"""Power loss: every state the disk may hold after a crash between two acknowledged writes.

A writer appends (plain, with ids, in batches, via the drop box) with durability `always`,
and the directory is captured after each acknowledgement: that is what fsync promised. For
each step from one acknowledgement to the next, the crash images are the earlier capture
plus any prefix of the bytes the step appended (every byte offset, and zero- and
garbage-filled tails, as ALICE found appends persisting), a new segment or drop-box file
whose directory entry was not synced yet (absent, or a temp file cut anywhere), a seal that
did or did not reach the disk, and renames into archive/ lost after the log was synced.
Each image is recovered: every event acknowledged before the step must be there exactly
once, the log must verify, and the next append must get the next seq.

Directories are modelled too: a directory created during a step survives only if its parent
was fsynced during the step (the recorder notes every directory fsync). One that was not is
dropped with everything in it from the image *after* the step, which must still hold every
event the step acknowledged.
"""
from __future__ import annotations

import os
import random
import shutil
import stat
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from scripts.torture.common import Result, scratch
from eventlog import Event, EventLogError, FileEventLog, LogSettings, NewEvent
from eventlog.events import FORMAT_VERSION, new_event_id, now_timestamp
from eventlog import syncrecord
from eventlog.pending import drop
from eventlog.verify import verify_log

Snapshot = dict[str, tuple[bytes, int]]  # relative path -> (content, mode)
SEGMENT_BYTES = 700


@dataclass
class Step:
    """One acknowledged operation: the disk before and after it, and what it acknowledged."""

    before: Snapshot
    after: Snapshot
    acked_before: frozenset[str]
    acked_after: frozenset[str]
    synced_dirs: frozenset[str] = frozenset()  # directories fsynced during the step, relative to the root's parent
    new_dirs: tuple[str, ...] = ()  # directories created during the step, relative to the root ("." for it)


class DirectorySyncs:
    """Notes every directory fsynced in this process while active (the recorder's view of
    which directory entries fsync made durable)."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.synced: set[str] = set()
        self._fsync = os.fsync

    def __enter__(self) -> "DirectorySyncs":
        def fsync(fd: int) -> None:
            self._fsync(fd)
            if stat.S_ISDIR(os.fstat(fd).st_mode):
                target = Path(os.readlink(f"/proc/self/fd/{fd}"))
                if target == self.base or self.base in target.parents:
                    self.synced.add(str(target.relative_to(self.base)))

        os.fsync = fsync
        return self

    def __exit__(self, *exc) -> None:
        os.fsync = self._fsync

    def take(self) -> frozenset[str]:
        taken, self.synced = frozenset(self.synced), set()
        return taken


def capture(root: Path) -> Snapshot:
    """Read every file under ``root`` (what fsync promised at an acknowledgement)."""
    snap: Snapshot = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.name.endswith("-shm"):
            snap[str(path.relative_to(root))] = (path.read_bytes(), path.stat().st_mode & 0o777)
    return snap


def directories(root: Path) -> set[str]:
    """Every directory under ``root`` (empty ones too), relative to it; "." for the root."""
    if not root.is_dir():
        return set()
    return {"."} | {str(p.relative_to(root)) for p in root.rglob("*") if p.is_dir()}


def materialize(snap: Snapshot, root: Path) -> None:
    """Write a crash image to a fresh directory."""
    shutil.rmtree(root, ignore_errors=True)
    for rel, (data, mode) in snap.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        os.chmod(path, mode)


# ------------------------------------------------------------------ the workload

def _operation(log: FileEventLog, root: Path, rng: random.Random, n: int, stored: list[str]) -> list[str]:
    kind = rng.choice(("plain", "plain", "id", "batch", "drop", "retry"))
    if kind == "plain":
        return [log.append("task", "power", {"n": n}).id]
    if kind == "id":
        return [log.append("task", "power", {"n": n}, id=f"pl-{n}").id]
    if kind == "batch":
        return [r.id for r in log.append_many([NewEvent(type="task", source="power", payload={"n": n, "i": i}) for i in range(3)])]
    if kind == "retry" and stored:
        event_id = rng.choice(stored)
        if not event_id.startswith("pl-"):
            return []
        # A retry is the same event again (same id, same content): it must not be stored twice.
        return [log.append("task", "power", {"n": int(event_id[3:])}, id=event_id).id]
    event = Event(seq=0, id=new_event_id(), type="task", source="dropper", timestamp=now_timestamp(),
                  version=FORMAT_VERSION, payload={"n": n})
    drop(log.paths.pending, event)  # what any emitter in any language may do
    return [event.id]


def record(root: Path, operations: int, seed: int) -> list[Step]:
    """Run the workload, capturing the disk after every acknowledged operation."""
    rng = random.Random(seed)
    steps, acked = [], frozenset()
    settings = LogSettings(segment_max_bytes=SEGMENT_BYTES)
    with DirectorySyncs(root.parent) as syncs, FileEventLog(root, settings=settings) as log:
        before, dirs_before = capture(root), directories(root)
        for n in range(operations):
            syncs.take()
            ids = _operation(log, root, rng, n, sorted(acked))
            after, dirs_after = capture(root), directories(root)
            steps.append(Step(before, after, acked, acked | frozenset(ids), syncs.take(),
                              tuple(sorted(dirs_after - dirs_before))))
            before, dirs_before, acked = after, dirs_after, acked | frozenset(ids)
    return steps


# ------------------------------------------------------------------ crash images

def _is_segment(rel: str) -> bool:
    return rel.startswith("events/log/") and rel.endswith(".jsonl")


def crash_images(step: Step, rng: random.Random, garbage_every: int) -> Iterator[tuple[str, Snapshot]]:
    """Yield (label, image) for every disk state a crash during ``step`` may leave."""
    before, after = step.before, step.after
    changed = [rel for rel in sorted(after) if _is_segment(rel) and after[rel] != before.get(rel)]
    done: Snapshot = dict(before)
    for rel in changed:
        old_data, old_mode = before.get(rel, (b"", 0o644))
        new_data, new_mode = after[rel]
        if not new_data.startswith(old_data):
            raise AssertionError(f"{rel} was rewritten, not appended to")
        if rel not in before:
            yield f"{rel} not created", dict(done)
        for offset in range(len(old_data), len(new_data) + 1):
            image = dict(done)
            image[rel] = (new_data[:offset], old_mode)
            yield f"{rel} cut at {offset}", image
            if offset < len(new_data) and (offset - len(old_data)) % garbage_every == 0:
                tail = len(new_data) - offset
                yield f"{rel} zeros from {offset}", {**image, rel: (new_data[:offset] + b"\0" * tail, old_mode)}
                junk = bytes(rng.getrandbits(8) for _ in range(tail))
                yield f"{rel} garbage from {offset}", {**image, rel: (new_data[:offset] + junk, old_mode)}
        if new_mode != old_mode:
            yield f"{rel} sealed", {**done, rel: (new_data, new_mode)}
            # Sealing writes the segment's .sha256 durably before its successor is created.
            checksum = rel[: -len(".jsonl")] + ".sha256"
            if checksum in after:
                done[checksum] = after[checksum]
        done[rel] = (new_data, new_mode)
    yield from _drop_images(step, done)
    yield "index lost", {k: v for k, v in done.items() if not k.startswith("events/index")}
    yield "after", dict(after)


def unsynced_directory_images(step: Step) -> Iterator[tuple[str, Snapshot]]:
    """Yield (label, image) for the disk after ``step`` when a directory it created is gone
    because its entry was never fsynced in its parent."""
    for directory in step.new_dirs:
        # Relative to the root's parent, as the recorder notes them: the root is ".loki".
        entry = ".loki" if directory == "." else f".loki/{directory}"
        parent = str(Path(entry).parent)
        if parent in step.synced_dirs:
            continue
        inside = "" if directory == "." else directory + "/"
        yield (f"{directory}/ not synced in its parent",
               {k: v for k, v in step.after.items() if inside and not k.startswith(inside)})


def _drop_images(step: Step, done: Snapshot) -> Iterator[tuple[str, Snapshot]]:
    for rel in sorted(set(step.after) - set(step.before)):
        if not (rel.startswith("events/pending/") and rel.endswith(".json")):
            continue
        data = step.after[rel][0]
        tmp = rel.replace("pending/", "pending/.", 1) + ".4242.0badf00d.tmp"
        for offset in range(0, len(data) + 1, max(1, len(data) // 6)):
            yield f"{rel}: only a temp file of {offset} bytes", {**done, tmp: (data[:offset], 0o644)}
        yield f"{rel} renamed", {**done, rel: step.after[rel]}


def check_image(image_root: Path, step: Step, after_step: bool = False) -> list[str]:
    """Recover one crash image; return what is wrong with it (nothing, we hope). An image
    ``after_step`` must hold what the step acknowledged, too."""
    problems = []
    saved, syncrecord._boot = syncrecord._boot, os.urandom(16)  # power loss: the next holder runs in a new boot
    try:
        with FileEventLog(image_root, settings=LogSettings(segment_max_bytes=SEGMENT_BYTES)) as log:
            log.recover()
            log.ingest_pending(timeout=5)
            events = list(log.read())
            report = verify_log(log.paths)
            problems += [f.describe() for f in report.findings]
            head = events[-1].seq if events else 0
            after = log.append("task", "after-recovery").seq
            if after != head + 1:
                problems.append(f"the next append got seq {after}, not {head + 1}")
    except EventLogError as exc:
        return [f"recovery failed: {type(exc).__name__}: {exc}"]
    finally:
        syncrecord._boot = saved
    seqs = [e.seq for e in events]
    if seqs != list(range(1, len(seqs) + 1)):
        problems.append("seqs are not dense")
    ids = [e.id for e in events]
    must_hold = step.acked_after if after_step else step.acked_before
    problems += [f"acknowledged {i} lost" for i in sorted(must_hold - set(ids))]
    problems += [f"{i} stored {ids.count(i)} times" for i in sorted(set(ids)) if ids.count(i) > 1]
    problems += [f"{i} came from nowhere" for i in sorted(set(ids) - step.acked_after)]
    return problems


def _image_dir(work: Path) -> Path:
    # Images are checked in memory when /dev/shm exists: what is modelled is the disk state
    # after the crash, and the checks' own fsyncs would only make the sweep slower.
    shm = Path("/dev/shm")
    return Path(tempfile.mkdtemp(prefix="torture-images-", dir=shm)) if shm.is_dir() else work / "image"


def run(trials: int = 12, seed: int = 0, garbage_every: int = 5) -> Result:
    """Record ``trials`` operations and check every crash image of each step."""
    result = Result("power loss")
    rng = random.Random(seed)
    with scratch() as work:
        steps = record(work / "recorded" / ".loki", trials, seed)
        image_root = _image_dir(work) / ".loki"
        try:
            for number, step in enumerate(steps):
                images = [(label, image, False) for label, image in crash_images(step, rng, garbage_every)]
                images += [(label, image, True) for label, image in unsynced_directory_images(step)]
                for label, image, after_step in images:
                    materialize(image, image_root)
                    problems = check_image(image_root, step, after_step)
                    result.trials += 1
                    result.lost += sum("lost" in p for p in problems)
                    result.duplicated += sum("times" in p for p in problems)
                    for problem in problems:
                        result.fail(f"step {number}, {label}: {problem}")
        finally:
            shutil.rmtree(image_root.parent, ignore_errors=True)
        result.acknowledged = len(steps[-1].acked_after) if steps else 0
    return result


if __name__ == "__main__":
    from scripts.torture.run import main_for
    sys.exit(main_for("power_loss"))

"""A durable writer for the group-commit scenarios that logs its own timeline.

Usage: group_writer.py LOKI_DIR TIMELINE APPENDS SEED [KILL_AT [before|after]]

Appends APPENDS times (plain appends and batches of 3, durability `always`) and writes one
line per fact to TIMELINE, unbuffered, with CLOCK_MONOTONIC times (shared by all processes):

    w <t> <inode> <end>             os.write to a segment returned; the bytes end at <end>
    s <t0> <t1> <inode> <size>      fsync of a segment returned success; <size> was its size
                                    when the fsync began, so those bytes are durable from <t1>
    m <t> <hex of the line>         the tail sidecar was rewritten (not fsynced)
    a <t> <id> ...                  append/append_many returned: these ids were acknowledged

With KILL_AT the writer always takes the group-commit path and kills itself with SIGKILL on
its KILL_AT-th fsync as leader, before that fsync or after it returned (before it published
anything).
"""
from __future__ import annotations

import os
import random
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from eventlog import FileEventLog, LogSettings, NewEvent  # noqa: E402
from eventlog import groupcommit  # noqa: E402


def main() -> None:
    root, timeline, appends, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    kill_at = int(sys.argv[5]) if len(sys.argv) > 5 else 0
    when = sys.argv[6] if len(sys.argv) > 6 else "before"
    out = os.open(timeline, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    clock = time.monotonic

    def note(*parts) -> None:
        os.write(out, (" ".join(str(p) for p in parts) + "\n").encode())

    def target(fd: int) -> str:
        try:
            return os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            return ""

    real_write, real_fsync, real_pwrite = os.write, os.fsync, os.pwrite
    leading = {"count": 0, "now": False}

    def write(fd, data):
        n = real_write(fd, data)
        if fd != out and target(fd).endswith(".jsonl"):
            note("w", clock(), os.fstat(fd).st_ino, os.lseek(fd, 0, os.SEEK_CUR))
        return n

    def fsync(fd):
        if not target(fd).endswith(".jsonl"):
            return real_fsync(fd)
        kill = leading["now"] and leading["count"] == kill_at
        leading["now"] = False
        if kill and when == "before":
            os.kill(os.getpid(), signal.SIGKILL)
        st = os.fstat(fd)
        t0 = clock()
        real_fsync(fd)
        note("s", t0, clock(), st.st_ino, st.st_size)
        if kill:
            os.kill(os.getpid(), signal.SIGKILL)

    def pwrite(fd, data, offset):
        n = real_pwrite(fd, data, offset)
        if target(fd).endswith("log.tail"):
            note("m", clock(), bytes(data).hex())
        return n

    real_lead = groupcommit.GroupCommit._lead

    def lead(self, ticket, forget, timeout):
        leading["count"] += 1
        leading["now"] = True
        return real_lead(self, ticket, forget, timeout)

    os.write, os.fsync, os.pwrite = write, fsync, pwrite
    groupcommit.GroupCommit._lead = lead
    if kill_at:  # the writer to be killed always shares fsyncs, so it does get to lead
        groupcommit.GroupCommit.contended = lambda self: True
    rng = random.Random(seed)
    settings = LogSettings(lock_timeout=20, segment_max_bytes=1 << 30)
    with FileEventLog(root, settings=settings) as log:
        for n in range(appends):
            if rng.random() < 0.2:
                ids = [r.id for r in log.append_many(
                    [NewEvent(type="task", source="group", payload={"n": n, "i": i}) for i in range(3)])]
            else:
                ids = [log.append("task", "group", {"n": n, "pid": os.getpid()}).id]
            note("a", clock(), *ids)


if __name__ == "__main__":
    main()

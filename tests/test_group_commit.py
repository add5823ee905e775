"""Group commit: durable writers share fsyncs, and nothing is acknowledged without one.

Real files and real processes; the failed fsync is injected (the only way to get EIO from a
healthy disk), the rest is the real thing. The power-loss and leader-kill proofs are torture
scenarios (scripts/torture/group_commit.py, leader_kill.py), run short in test_torture.py.
"""
from __future__ import annotations

import errno
import os
import subprocess
import sys
import threading

import pytest

from eventlog import FileEventLog, LogSettings, SyncFailedError
from eventlog import groupcommit, syncrecord
from eventlog.tailmark import TailMark, format_mark, read_mark
from tests.conftest import subprocess_env

WRITER = """
import sys
from eventlog import FileEventLog, LogSettings
with FileEventLog(sys.argv[1], settings=LogSettings(lock_timeout=30)) as log:
    for n in range(int(sys.argv[2])):
        print(log.append("task", sys.argv[3], {"n": n}).id, flush=True)
"""


def test_concurrent_durable_writers_get_dense_seqs_and_every_ack_is_readable(durable_loki):
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(durable_loki), "40", f"w{i}"],
                              stdout=subprocess.PIPE, text=True, env=subprocess_env()) for i in range(4)]
    acked = []
    for proc in procs:
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0
        acked += out.split()
    with FileEventLog(durable_loki) as log:
        events = list(log.read())
        assert log.head_seq == 160
    assert [e.seq for e in events] == list(range(1, 161))
    assert sorted(e.id for e in events) == sorted(acked)
    mark = read_mark(durable_loki / "events" / "log.tail")
    assert mark.last_seq == 160  # the sidecar ends at the last fsynced append


def _force_group_path(monkeypatch) -> None:
    # Alone, a writer fsyncs under the lock; these tests need the shared path every time.
    monkeypatch.setattr(groupcommit.GroupCommit, "contended", lambda self: True)


def test_a_failed_fsync_reaches_the_waiter_it_was_to_cover(durable_loki, monkeypatch):
    _force_group_path(monkeypatch)
    settings = LogSettings(lock_timeout=10)
    with FileEventLog(durable_loki, settings=settings) as log:
        assert log.append("task", "before").seq == 1
    leader, follower = FileEventLog(durable_loki, settings=settings), FileEventLog(durable_loki, settings=settings)
    failing = threading.get_ident()
    real_fsync, real_try_lead = os.fsync, groupcommit.GroupCommit._try_lead
    follower_waits = threading.Event()
    leader_done = threading.Event()

    def fsync(fd):
        if threading.get_ident() == failing:
            raise OSError(errno.EIO, "Input/output error")
        return real_fsync(fd)

    def try_lead(self):
        if self is follower._group and not leader_done.is_set():
            follower_waits.set()
            return False  # stay a follower until the leader's fsync has failed
        return real_try_lead(self)

    monkeypatch.setattr(groupcommit.os, "fsync", fsync)
    monkeypatch.setattr(groupcommit.GroupCommit, "_try_lead", try_lead)
    outcome = {}

    def follow():
        try:
            outcome["receipt"] = follower.append("task", "follower")
        except SyncFailedError as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=follow)
    thread.start()
    try:
        assert follower_waits.wait(10)
        with pytest.raises(SyncFailedError):
            leader.append("task", "leader")  # its fsync would have covered the follower's bytes
    finally:
        leader_done.set()
        thread.join(30)
    assert not thread.is_alive()
    assert "receipt" not in outcome, "the follower was acknowledged by a failed fsync"
    assert isinstance(outcome["error"], SyncFailedError)
    leader.close()
    follower.close()
    monkeypatch.undo()
    with FileEventLog(durable_loki) as log:
        assert [e.source for e in log.read()] == ["before"]
        assert log.append("task", "after").seq == 2


def test_a_leader_that_hangs_delays_its_followers_only_up_to_the_lock_timeout(durable_loki, monkeypatch):
    _force_group_path(monkeypatch)
    with FileEventLog(durable_loki) as log:
        log.append("task", "first")
    hold = subprocess.Popen([sys.executable, "-c", HOLD_SYNC_LOCK, str(durable_loki / "events" / "log.sync")],
                            stdout=subprocess.PIPE, text=True, env=subprocess_env())
    try:
        assert hold.stdout.readline().strip() == "held"
        with FileEventLog(durable_loki, settings=LogSettings(lock_timeout=0.5)) as log:
            receipt = log.append("task", "second")  # its own fsync, after waiting for the leader
            assert receipt.seq == 2
            assert log.head_seq == 2
    finally:
        hold.kill()
        hold.wait(10)
        hold.stdout.close()


HOLD_SYNC_LOCK = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(60)
"""


def test_losing_the_sync_record_costs_speed_only(durable_loki):
    with FileEventLog(durable_loki) as log:
        log.append("task", "a")
        (durable_loki / "events" / "log.sync").unlink()
        log.append("task", "b")
    with FileEventLog(durable_loki) as log:
        (durable_loki / "events" / "log.sync").write_bytes(b"garbage")
        log.append("task", "c")
        assert [e.source for e in log.read()] == ["a", "b", "c"]


def test_after_a_reboot_a_stale_sidecar_does_not_cut_acknowledged_lines(durable_loki, monkeypatch):
    with FileEventLog(durable_loki) as log:
        for n in range(3):
            log.append("task", "acked", {"n": n})
    segment = durable_loki / "events" / "log" / "00000000000000000001.jsonl"
    first_line = len(segment.read_bytes().splitlines(keepends=True)[0])
    # What a power cut may leave: the sidecar (never fsynced in that boot) one append behind.
    (durable_loki / "events" / "log.tail").write_bytes(
        format_mark(TailMark(segment.name, os.stat(segment).st_ino, first_line, 1)))
    monkeypatch.setattr(syncrecord, "_boot", os.urandom(16))  # the next boot
    with FileEventLog(durable_loki) as log:
        assert log.append("task", "after").seq == 4
        assert [e.source for e in log.read()] == ["acked"] * 3 + ["after"]
        assert not log.cuts
    assert (durable_loki / "events" / "log.boot").read_text().strip() != ""


@pytest.mark.parametrize("boot", ["known", "unknown"])
def test_within_one_boot_bytes_past_the_sidecar_and_the_record_are_still_cut_whole(durable_loki, monkeypatch, boot):
    if boot == "unknown":  # no /proc boot id: no group commit, durable sidecars, cuts as before
        monkeypatch.setattr(syncrecord, "_boot", b"")
    with FileEventLog(durable_loki) as log:
        log.append("task", "acked")
    segment = durable_loki / "events" / "log" / "00000000000000000001.jsonl"
    with open(segment, "ab") as handle:  # a writer killed inside its write: never noted as written
        handle.write(b'{"seq":2,"id":"dead","type":"task","source":"killed","timestamp":"2026-02-21T10:00:00.000Z",'
                     b'"version":"1.0","payload":{}}\n{"seq":3,"id":"de')
    with FileEventLog(durable_loki) as log:
        assert log.append("task", "next").seq == 2
        assert [c.saved_as.suffix for c in log.cuts] == [".unfinished"]

"""Group commit's targeted wake-ups: a waiter sleeps only for the fsync that will cover it.

The futex is the real one, in the real shared map; the writers are real processes. A wrong
wake-up may only cost a wait slice, never an acknowledgement: every waiter re-checks.
"""
from __future__ import annotations

import os
import platform
import signal
import subprocess
import sys
import threading
import time

import pytest

from eventlog import FileEventLog, LogSettings
from eventlog.syncrecord import ALL_BITS, SyncRecord
from tests.conftest import subprocess_env
from tests.test_group_commit import WRITER

pytestmark = pytest.mark.skipif(platform.machine() not in ("x86_64", "aarch64") or sys.platform != "linux",
                                reason="no futex here: waits poll")


def _sleeper(record: SyncRecord, bits: int, done: list) -> threading.Thread:
    signal_ = record.synced
    seen = signal_.seen()
    signal_.arm()

    def sleep() -> None:
        began = time.monotonic()
        signal_.wait(seen, 3.0, bits)
        done.append(time.monotonic() - began)

    thread = threading.Thread(target=sleep)
    thread.start()
    return thread


def test_a_waiter_sleeps_through_other_fsyncs_wake_ups_and_wakes_for_its_own(tmp_path):
    record = SyncRecord(tmp_path / "log.sync")
    assert record.open()
    done: list = []
    thread = _sleeper(record, 1 << 6, done)
    time.sleep(0.2)
    record.synced.notify_bits(1 << 5)  # another epoch's writers: ours sleeps on
    thread.join(0.3)
    assert thread.is_alive() and not done
    record.synced.notify_bits(1 << 6)
    thread.join(2.0)
    assert done and done[0] < 2.0  # woken, not timed out
    record.close()


def test_a_plain_notify_wakes_every_targeted_waiter(tmp_path):
    record = SyncRecord(tmp_path / "log.sync")
    assert record.open()
    done: list = []
    threads = [_sleeper(record, 1 << bit, done) for bit in (0, 17, 31)] + [_sleeper(record, ALL_BITS, done)]
    time.sleep(0.2)
    record.synced.notify()  # a failure, an inline fsync: everyone re-checks
    for thread in threads:
        thread.join(2.0)
    assert len(done) == 4 and max(done) < 2.0
    record.close()


def test_the_epoch_names_the_target_its_leader_read(tmp_path):
    record = SyncRecord(tmp_path / "log.sync")
    assert record.open()
    first = record.begin_epoch(1000)
    assert record.epoch() == (1000, first)
    assert record.begin_epoch(2000) == (first + 1) & 0xFFFFFFFF
    assert record.epoch() == (2000, (first + 1) & 0xFFFFFFFF)
    record.close()


def test_writers_keep_going_when_a_writer_is_killed_with_9_at_any_moment(durable_loki):
    # Whoever dies (a leader after it named its epoch, a waiter), nobody it was to wake is
    # stranded: the others finish, every acknowledged id is stored once, seqs stay dense.
    steady = [subprocess.Popen([sys.executable, "-c", WRITER, str(durable_loki), "80", f"s{i}"],
                               stdout=subprocess.PIPE, text=True, env=subprocess_env()) for i in range(4)]
    victims = []
    for i in range(6):
        victim = subprocess.Popen([sys.executable, "-c", WRITER, str(durable_loki), "100000", f"v{i}"],
                                  stdout=subprocess.PIPE, text=True, env=subprocess_env())
        time.sleep(0.3 + 0.05 * i)
        os.kill(victim.pid, signal.SIGKILL)
        victims.append(victim)
    acked = []
    for proc in steady + victims:
        out, _ = proc.communicate(timeout=120)
        acked += out.split()
    assert all(proc.returncode == 0 for proc in steady)
    with FileEventLog(durable_loki, settings=LogSettings(lock_timeout=10)) as log:
        log.recover()
        events = list(log.read())
    ids = [e.id for e in events]
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert len(ids) == len(set(ids)) and set(acked) <= set(ids)
    assert sum(1 for e in events if e.source.startswith("s")) == 320

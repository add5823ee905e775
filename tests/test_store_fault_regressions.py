"""Regressions found by the torture suite: housekeeping failures must not break appends."""
import shutil
import subprocess
import sys

import pytest

from eventlog import Event, FileEventLog
from eventlog.events import FORMAT_VERSION, new_event_id, now_timestamp
from eventlog.pending import drop, list_pending
from conftest import REPO, subprocess_env

needs_strace = pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")
WRITER = str(REPO / "scripts" / "torture" / "writer.py")


def _run(prefix, root, tag, *args):
    done = subprocess.run([*prefix, sys.executable, WRITER, str(root), tag, *args], env=subprocess_env(),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def _inject(syscall, error, path=None):
    traced = ["-P", str(path)] if path else []
    return ["strace", "-f", "-qq", "-o", "/dev/null", *traced, "-e", f"trace={syscall}",
            "-e", f"inject={syscall}:error={error}"]


@needs_strace
def test_a_failed_move_to_archive_neither_fails_the_append_nor_duplicates(loki):
    with FileEventLog(loki) as log:
        log.append("task", "setup")
        dropped = Event(seq=0, id=new_event_id(), type="task", source="dropper", timestamp=now_timestamp(),
                        version=FORMAT_VERSION, payload={})
        drop(log.paths.pending, dropped)
    lines = _run(_inject("rename", "EXDEV"), loki, "w", "2")
    assert [line.split()[0] for line in lines] == ["ACK", "ACK"]
    with FileEventLog(loki) as log:
        assert len(list_pending(log.paths.pending)) == 1  # stored, its file not moved
        assert log.ingest_pending().ingested == 0  # a later pass does not store it again
        ids = [e.id for e in log.read()]
    assert ids.count(dropped.id) == 1 and len(ids) == 4


@needs_strace
def test_an_index_that_cannot_be_written_gives_a_clear_error_and_stores_nothing(loki):
    _run([], loki, "a", "1", "--ids")
    _run([], loki, "b", "1")  # the index is now one event behind the log
    wal = loki / "events" / "index.sqlite-wal"
    lines = _run(_inject("pwrite64", "ENOSPC", wal), loki, "c", "1", "--ids")
    assert lines == ["ERR c-0 LogWriteError [Errno 5] the index cannot be updated, nothing stored: "
                     "database or disk is full"]
    with FileEventLog(loki) as log:
        assert [e.id for e in log.read()][0] == "a-0" and log.head_seq == 2


@needs_strace
def test_an_index_failure_after_the_durable_write_still_acknowledges_once(loki):
    _run([], loki, "a", "1", "--ids")
    wal = loki / "events" / "index.sqlite-wal"
    assert _run(_inject("pwrite64", "ENOSPC", wal), loki, "c", "1", "--ids")[0].startswith("ACK c-0 2 ")
    assert [line.split()[:3] for line in _run([], loki, "c", "2", "--ids")] == [["ACK", "c-0", "2"], ["ACK", "c-1", "3"]]

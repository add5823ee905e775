"""A rollback that cannot remove the partial bytes must say so, and the bytes count as torn.

Real faults, injected with strace into a real writer: its 3rd fsync of the segment fails
(EIO), and so does the ftruncate that should remove the bytes it could not sync.
"""
from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from eventlog import FileEventLog
from eventlog.verify import verify_log
from tests.conftest import subprocess_env

WRITER = ["scripts/torture/writer.py"]
SEGMENT = "events/log/00000000000000000001.jsonl"


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed (scripts/test installs it)")
def test_a_failed_ftruncate_leaves_a_torn_tail_that_the_next_writer_cuts(loki):
    with FileEventLog(loki) as log:
        log.append("task", "setup")  # the segment exists, so strace can follow it by path
    done = subprocess.run(
        ["strace", "-f", "-qq", "-o", "/dev/null", "-P", str(loki / SEGMENT),
         "-e", "trace=fsync,ftruncate", "-e", "inject=fsync:error=EIO:when=3",
         "-e", "inject=ftruncate:error=EIO:when=1",
         sys.executable, *WRITER, str(loki), "f", "5", "--ids"],
        capture_output=True, text=True, timeout=60, env=subprocess_env(),
    )
    lines = done.stdout.splitlines()
    errors = [line for line in lines if line.startswith("ERR")]
    assert len(errors) == 1 and errors[0].startswith("ERR f-2 SyncFailedError"), done.stdout + done.stderr
    assert "torn tail" in errors[0] and "rolled back" not in errors[0]
    acked = [line.split()[1] for line in lines if line.startswith("ACK")]
    assert acked == ["f-0", "f-1", "f-3", "f-4"]
    with FileEventLog(loki) as log:
        stored = [e.id for e in log.read()]
        assert stored[1:] == acked  # f-2, reported as not stored, is not stored
        assert [e.seq for e in log.read()] == [1, 2, 3, 4, 5]
    assert list((loki / "events" / "quarantine").glob("*.unfinished"))
    assert verify_log(FileEventLog(loki).paths).ok

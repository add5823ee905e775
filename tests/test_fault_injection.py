"""Real syscall failures during appends: nothing torn is left, nothing unsynced is acknowledged."""
import shutil
import subprocess
import sys

import pytest

from eventlog import FileEventLog
from eventlog.verify import verify_log
from conftest import subprocess_env

APPEND = """
import sys
from eventlog import FileEventLog, EventLogError
log = FileEventLog(sys.argv[1])
try:
    receipt = log.append("task", "victim", {"blob": "z" * int(sys.argv[2])})
    print("ACK", receipt.seq)
except EventLogError as exc:
    print("ERR", type(exc).__name__, exc)
"""

needs_strace = pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")


def _setup(root, count=3):
    with FileEventLog(root) as log:
        for i in range(count):
            log.append("task", "setup", {"i": i})
    return root / "events" / "log" / "00000000000000000001.jsonl"


def _run(cmd, root, size=100, **kwargs):
    result = subprocess.run([*cmd, sys.executable, "-c", APPEND, str(root), str(size)], env=subprocess_env(),
                            capture_output=True, text=True, timeout=60, **kwargs)
    return result.stdout.strip().splitlines()[-1]


def _assert_intact_and_resumes(root, count=3):
    with FileEventLog(root) as log:
        assert [e.source for e in log.read()] == ["setup"] * count
        assert verify_log(log.paths).ok
        assert log.append("task", "after").seq == count + 1


@needs_strace
def test_a_failed_fsync_is_not_acknowledged_and_its_bytes_are_removed(durable_loki):
    loki = durable_loki
    segment = _setup(loki)
    before = segment.read_bytes()
    line = _run(["strace", "-f", "-qq", "-o", "/dev/null", "-P", str(segment),
                 "-e", "trace=fsync", "-e", "inject=fsync:error=EIO:when=1"], loki)
    assert line.startswith("ERR SyncFailedError") and "rolled back" in line
    assert segment.read_bytes() == before
    _assert_intact_and_resumes(loki)


@needs_strace
def test_a_full_disk_during_the_write_leaves_no_torn_line(loki):
    segment = _setup(loki)
    line = _run(["strace", "-f", "-qq", "-o", "/dev/null", "-P", str(segment),
                 "-e", "trace=write", "-e", "inject=write:error=ENOSPC:when=1"], loki)
    assert line.startswith("ERR LogWriteError") and "No space left" in line
    _assert_intact_and_resumes(loki)


def test_a_short_write_at_the_file_size_limit_is_rolled_back(loki):
    segment = _setup(loki)
    size = segment.stat().st_size

    def limit_file_size():
        import resource
        import signal
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG / a short write, not a kill
        resource.setrlimit(resource.RLIMIT_FSIZE, (size + 40, size + 40))

    line = _run([], loki, size=500, preexec_fn=limit_file_size)
    assert line.startswith("ERR LogWriteError")
    assert segment.stat().st_size == size
    _assert_intact_and_resumes(loki)

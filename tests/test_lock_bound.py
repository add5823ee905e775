"""Nobody waits forever: a stopped or hung lock holder sends writers to the drop box, bounded."""
import os
import signal
import subprocess
import sys
import time

import pytest

from eventlog import FileEventLog, LockTimeoutError, LogSettings
from conftest import read_line, run_lokilog, subprocess_env

HOLD = """
import sys, time
from eventlog import FileEventLog
log = FileEventLog(sys.argv[1])
log.append("held", "test")
log._lock.acquire(5)
print("locked", flush=True)
time.sleep(60)
"""


@pytest.fixture
def stopped_holder(loki):
    """A real process that takes the log lock and is then SIGSTOPped while holding it."""
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(loki)], stdout=subprocess.PIPE,
                              env=subprocess_env(), text=True)
    assert read_line(holder.stdout).strip() == "locked"
    os.kill(holder.pid, signal.SIGSTOP)
    yield holder
    holder.kill()
    holder.wait(timeout=10)
    holder.stdout.close()


def test_a_stopped_lock_holder_sends_appends_to_the_drop_box_within_the_bound(loki, stopped_holder):
    with FileEventLog(loki, settings=LogSettings(lock_timeout=0.3)) as log:
        started = time.monotonic()
        receipt = log.append("task", "runner", {"n": 1})
        waited = time.monotonic() - started
    assert receipt.status == "pending" and receipt.seq is None
    assert 0.3 <= waited < 3
    assert os.path.exists(receipt.pending_file)

    stopped_holder.kill()  # the holder dies: the kernel releases its flock
    stopped_holder.wait(timeout=10)
    with FileEventLog(loki) as log:
        events = list(log.read())
    assert [(e.seq, e.type) for e in events] == [(1, "held"), (2, "task")]
    assert events[1].id == receipt.id
    assert not os.listdir(loki / "events" / "pending")
    assert os.listdir(loki / "events" / "archive") == [os.path.basename(receipt.pending_file)]


def test_a_conditional_append_cannot_wait_in_the_drop_box(loki, stopped_holder):
    with FileEventLog(loki, settings=LogSettings(lock_timeout=0.2)) as log:
        with pytest.raises(LockTimeoutError, match="not free within 0.2s"):
            log.append("task", "runner", stream="s", expected_version=0)


def test_without_fallback_the_timeout_is_an_error(loki, stopped_holder):
    with FileEventLog(loki, settings=LogSettings(lock_timeout=0.2, pending_fallback=False)) as log:
        with pytest.raises(LockTimeoutError):
            log.append("task", "runner")


def test_cli_emit_reports_pending_and_exits_zero(loki, stopped_holder):
    result = run_lokilog("emit", "task", "-s", "runner", "k=v", loki=loki, LOKI_EVENTS_LOCK_TIMEOUT="0.2")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("pending  id ")


def test_a_killed_holder_releases_the_lock_at_once(loki):
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(loki)], stdout=subprocess.PIPE,
                              env=subprocess_env(), text=True)
    assert read_line(holder.stdout).strip() == "locked"
    holder.kill()
    holder.wait(timeout=10)
    holder.stdout.close()
    with FileEventLog(loki, settings=LogSettings(lock_timeout=1)) as log:
        assert log.append("task", "runner").seq == 2


def test_retrying_the_dropped_event_after_ingest_is_still_one_event(loki, stopped_holder):
    with FileEventLog(loki, settings=LogSettings(lock_timeout=0.2)) as log:
        receipt = log.append("task", "runner", {"n": 1}, id="retry-me")
    stopped_holder.kill()
    stopped_holder.wait(timeout=10)
    with FileEventLog(loki) as log:
        again = log.append("task", "runner", {"n": 1}, id="retry-me")
        assert (receipt.status, again.status, again.seq) == ("pending", "duplicate", 2)
        assert log.head_seq == 2

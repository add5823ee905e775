"""The checkpoint store and the watch daemon lock through eventlog/locking.py, with their own messages."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from commands.checkpoints import store as checkpoint_store
from commands.checkpoints.store import CheckpointStore
from eventlog import LockTimeoutError
from subscribers.instance import AlreadyRunningError, InstanceLock, holder

HOLD = textwrap.dedent("""
    import sys, time
    from eventlog.locking import LogLock
    lock = LogLock(__import__("pathlib").Path(sys.argv[1]))
    lock.acquire(5)
    print("held", flush=True)
    sys.stdin.read()  # hold until the test closes our stdin
""")


def _holder_process(path):
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_busy_checkpoint_store_times_out_with_its_own_message(loki, monkeypatch):
    store = CheckpointStore(loki)
    store.root.mkdir(parents=True)
    proc = _holder_process(store.root / ".lock")
    try:
        monkeypatch.setattr(checkpoint_store, "LOCK_TIMEOUT", 0.2)
        with pytest.raises(LockTimeoutError, match=r"checkpoint store is busy .* for over 0s"):
            with store.lock():
                pass
    finally:
        proc.stdin.close()
        proc.wait(timeout=10)
        proc.stdout.close()
    with store.lock():  # released by the holder's exit: free again, and re-entrant after release
        pass
    with store.lock():
        pass


def test_the_watch_lock_refuses_a_second_instance_and_frees_on_release(loki):
    with InstanceLock(loki):
        assert holder(loki)["pid"] is not None
        with pytest.raises(AlreadyRunningError, match="lokilog watch already runs for"):
            InstanceLock(loki).acquire()
    assert holder(loki) is None
    with InstanceLock(loki):
        pass

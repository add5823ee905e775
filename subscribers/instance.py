"""One watch daemon per `.loki/`: an flock on `.loki/projections/watch.lock` that names its holder.

The holder writes who it is (pid, host, start time, command) into the lock file, so a second
start can say who runs it. The kernel drops the lock when the holder dies, even by kill -9:
no stale lock is ever left behind.
"""
from __future__ import annotations

import json
import os
import socket
import sys
import time
from pathlib import Path

from eventlog import EventLogError
from eventlog.events import now_timestamp
from eventlog.locking import try_lock
from eventlog.safeio import read_small


class AlreadyRunningError(EventLogError):
    """Another `lokilog watch` holds this `.loki/`."""


class InstanceLock:
    """The single-instance lock of the watch daemon."""

    def __init__(self, loki_dir: Path) -> None:
        self.path = Path(loki_dir) / "projections" / "watch.lock"
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise AlreadyRunningError naming the holder."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
        if not try_lock(fd):
            holder = _describe(self.path)
            os.close(fd)
            raise AlreadyRunningError(f"lokilog watch already runs for {self.path.parent.parent}: {holder}") from None
        os.ftruncate(fd, 0)
        info = {"pid": os.getpid(), "host": socket.gethostname(), "started": now_timestamp(),
                "command": " ".join(sys.argv)}
        os.pwrite(fd, json.dumps(info).encode() + b"\n", 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)  # a later reader must not take a dead holder for a live one
            os.close(self._fd)         # closing drops the flock
            self._fd = None

    def __enter__(self) -> "InstanceLock":
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def holder(loki_dir: Path) -> dict | None:
    """Return who holds the watch lock of ``loki_dir``, or None when no daemon runs."""
    path = Path(loki_dir) / "projections" / "watch.lock"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        if not try_lock(fd, shared=True):
            return _read(path) or {"pid": None}
        return None  # we got it: nobody holds it
    finally:
        os.close(fd)


def _read(path: Path) -> dict | None:
    try:
        return json.loads(read_small(path).decode() or "null")
    except (OSError, ValueError):
        return None


def _describe(path: Path) -> str:
    info = None
    deadline = time.monotonic() + 0.5
    while info is None and time.monotonic() < deadline:
        info = _read(path)  # the holder writes its name right after locking: give it a moment
        if info is None:
            time.sleep(0.01)
    if not info:
        return f"another process holds {path}"
    return f"pid {info.get('pid')} on {info.get('host')} since {info.get('started')} ({info.get('command')})"

"""The log's exclusive lock: `flock` on `.loki/events/log.lock`, always with a bounded wait.

The one lock helper of lokilog: :class:`LogLock` also serializes the checkpoint store and
config rewrites, and the watch daemon's single-instance lock is built on :func:`try_lock` (exclusive
or shared) and :func:`unlock` (the one place that knows flock from portalocker).

`flock(1)` in bash takes the same lock, so Python and bash writers exclude each other.
A holder that dies releases it with its file descriptor; a holder that is stopped keeps it,
which is why every wait here has a deadline and the caller has a fallback.
"""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from . import forks
from .errors import LockTimeoutError
from .fsutil import make_dirs

try:  # POSIX: call flock directly; portalocker's wrapper costs ten times the syscall.
    import fcntl

    def try_lock(fd: int, shared: bool = False) -> bool:
        """Take the lock on ``fd`` if it is free (exclusive, or ``shared``); never waits."""
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False

    def unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)

except ImportError:  # pragma: no cover - Windows
    import portalocker

    def try_lock(fd: int, shared: bool = False) -> bool:
        kind = portalocker.LockFlags.SHARED if shared else portalocker.LockFlags.EXCLUSIVE
        try:
            portalocker.lock(fd, kind | portalocker.LockFlags.NON_BLOCKING)
            return True
        except portalocker.exceptions.LockException:
            return False

    def unlock(fd: int) -> None:
        portalocker.unlock(fd)


_FIRST_BACKOFF = 0.00005
_MAX_BACKOFF = 0.005


class LogLock:
    """An inter-process and inter-thread exclusive lock whose every wait has a deadline."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self._generation = -1
        self._identity: tuple[int, int] = (0, 0)  # (inode, device) of the file self._fd locks
        self._threads = threading.Lock()
        self.signal = None  # optional wake-up on release (eventlog/syncrecord.py Signal)

    def acquire(self, timeout: float) -> None:
        """Take the lock within ``timeout`` seconds or raise LockTimeoutError."""
        deadline = time.monotonic() + timeout
        if not self._threads.acquire(False) and not self._threads.acquire(timeout=max(timeout, 0)):
            raise LockTimeoutError(f"{self.path}: another thread held the lock for {timeout}s")
        try:
            while True:
                fd = self._fd if self._generation == forks.generation and self._fd is not None else self._descriptor()
                if not try_lock(fd):
                    self._wait_for_file_lock(fd, deadline, timeout)
                if self._still_named(fd):
                    return
                # Someone removed or replaced log.lock (a "stale lock" clean-up) while we
                # waited: the lock we hold is on a file nobody else will open, so two writers
                # would each hold "the" lock. Let go and lock what the path names now.
                unlock(fd)
                self.close()
                if time.monotonic() > deadline + 1.0:
                    raise LockTimeoutError(f"{self.path}: the lock file kept being replaced for {timeout}s")
        except BaseException:
            self._threads.release()
            raise

    def try_acquire(self) -> bool:
        """Take the lock only if it is free right now."""
        try:
            self.acquire(0)
            return True
        except LockTimeoutError:
            return False

    def release(self) -> None:
        """Release the lock taken by :meth:`acquire`."""
        try:
            if self._fd is not None:
                unlock(self._fd)
                if self.signal is not None:
                    self.signal.notify()
        finally:
            self._threads.release()

    def close(self) -> None:
        """Close the lock's file descriptor."""
        if self._fd is not None and self._generation == forks.generation:
            os.close(self._fd)
        self._fd = None

    def _wait_for_file_lock(self, fd: int, deadline: float, timeout: float) -> None:
        backoff = _FIRST_BACKOFF
        signal = self.signal
        while True:
            # Python holders wake us on release (with a signal); bash ones do not: poll too.
            seen = signal.seen() if signal is not None else 0
            if signal is not None:
                signal.arm()
            if try_lock(fd):
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise LockTimeoutError(
                    f"{self.path}: lock not free within {timeout}s (is a writer stopped or hung?)"
                )
            if signal is not None:
                signal.wait(seen, min(backoff, remaining))
            else:
                time.sleep(min(backoff, remaining))
            backoff = min(backoff * 2, _MAX_BACKOFF)

    def _still_named(self, fd: int) -> bool:
        """True when the lock file's path still names the inode ``fd`` has locked."""
        try:
            named = os.stat(self.path)
        except FileNotFoundError:
            return False
        return (named.st_ino, named.st_dev) == self._identity

    def _descriptor(self) -> int:
        # A descriptor inherited across fork shares the parent's open file description, and
        # so its flock: a child must open its own.
        if self._fd is None or self._generation != forks.generation:
            make_dirs(self.path.parent)  # the first writer creates .loki/events/: durably
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
            self._generation = forks.generation
            held = os.fstat(self._fd)
            self._identity = (held.st_ino, held.st_dev)
        return self._fd

"""Who holds the log lock, for `lokilog doctor`: a non-blocking probe plus Linux's /proc/locks."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from .locking import LogLock


@dataclass(frozen=True)
class LockState:
    """Whether the lock was free at the probe, and the pids holding it when the OS says."""

    path: str
    exists: bool
    held: bool
    holders: list[int] = field(default_factory=list)


def lock_state(path: Path, proc_locks: Path = Path("/proc/locks")) -> LockState:
    """Probe the lock without waiting; name its holders where /proc/locks lists them."""
    if not path.exists():
        return LockState(str(path), False, False)
    probe = LogLock(path)
    try:
        free = probe.try_acquire()
        if free:
            probe.release()
    finally:
        probe.close()
    holders = [] if free else holders_of(path, proc_locks)
    return LockState(str(path), True, not free, holders)


def holders_of(path: Path, proc_locks: Path = Path("/proc/locks")) -> list[int]:
    """Return the pids /proc/locks lists for flock locks on ``path`` (empty where unavailable)."""
    try:
        st = os.stat(path)
        lines = proc_locks.read_text().splitlines()
    except OSError:
        return []
    wanted = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    pids = []
    for line in lines:
        # "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF"; blocked waiters are marked "->".
        parts = line.split()
        if "->" in parts or len(parts) < 6 or parts[1] != "FLOCK":
            continue
        if parts[5].lower() == wanted and parts[4].isdigit():
            pids.append(int(parts[4]))
    return sorted(set(pids))

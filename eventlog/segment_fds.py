"""The segment descriptors group commit fsyncs, shared by the tickets that wait on them.

A durable append's ticket keeps a duplicate of the segment's descriptor, so that its fsync can
run after the writer has let go of the file. One duplicate per segment inode serves every ticket
of this process; it closes once no ticket uses it and a newer segment takes its place. A
descriptor that saw a failed fsync is retired: the next append duplicates a fresh one.
"""
from __future__ import annotations

import os
import threading

from . import forks


class SegmentDescriptors:
    """Counted duplicates of segment descriptors, by inode (thread-safe, reset in a forked child)."""

    def __init__(self) -> None:
        self._open: dict[int, list[int]] = {}  # inode -> [descriptor, tickets using it]
        self._retired: list[list[int]] = []
        self._lock = threading.Lock()
        self._generation = forks.generation

    def hold(self, fd: int, inode: int) -> int:
        """A descriptor of ``inode``'s segment for one more ticket (``fd`` is duplicated if needed)."""
        with self._lock:
            if self._generation != forks.generation:
                self._open, self._retired, self._generation = {}, [], forks.generation  # the parent's
            entry = self._open.get(inode)
            if entry is None:
                for old in [i for i, e in self._open.items() if e[1] == 0]:
                    os.close(self._open.pop(old)[0])
                entry = self._open[inode] = [os.dup(fd), 0]
            entry[1] += 1
            return entry[0]

    def release(self, fd: int, inode: int) -> None:
        """One ticket is done with ``fd``; a retired descriptor closes with its last ticket."""
        with self._lock:
            if self._generation != forks.generation:
                return
            entry = self._open.get(inode)
            if entry is not None and entry[0] == fd:
                entry[1] -= 1
                return
            for old in self._retired:
                if old[0] == fd:
                    old[1] -= 1
                    if not old[1]:
                        self._retired.remove(old)
                        os.close(old[0])
                    return

    def retire(self, inode: int) -> None:
        """Never hand out ``inode``'s descriptor again (it saw a failed fsync)."""
        with self._lock:
            entry = self._open.pop(inode, None)
            if entry is not None:
                self._retired.append(entry)

    def close(self) -> None:
        with self._lock:
            if self._generation == forks.generation:
                for fd, users in self._open.values():
                    if not users:
                        os.close(fd)
            self._open = {}

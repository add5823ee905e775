"""The shared sync record `.loki/events/log.sync` and the boot file `.loki/events/log.boot`.

Group commit (eventlog/groupcommit.py) lets one fsync acknowledge the appends of many
processes. They meet in `log.sync`: a small memory-mapped file, never fsynced, holding

- the boot it was written in (``/proc/sys/kernel/random/boot_id``): a record from an earlier
  boot is reset, never trusted;
- the active segment's inode and a generation, bumped whenever bytes that a waiting writer
  may own could have been removed (a failed fsync's rollback, a cut, a new segment);
- W, the end of the last complete append (and its seq): bytes up to W belong to writers that
  finished writing and wait for their fsync, so the next lock holder must not cut them;
- D, the end up to which an fsync that began after those bytes were written has returned
  (and its seq): a writer whose bytes end at or before D, in the same inode and generation,
  is acknowledged without an fsync of its own.

Only holders of the log lock change the record, under a sequence counter (odd while a change
is under way), so lock-free readers never act on a half-written one. Losing the record, or
reading nonsense from it, costs speed only: every use is checked (inode, generation, the
writer's own bytes) and anything in doubt falls back to the writer's own fsync.

`log.boot` names the boot since which the tail sidecar `log.tail` has been written without
its own fdatasync. Within one boot the page cache is coherent, so such a sidecar is exact;
after a reboot it may be older than the segment. A holder that finds another boot (or no
file) therefore does not trust the sidecar to cut whole lines, fsyncs the segment, rewrites
the sidecar durably and only then records the new boot, durably.
"""
from __future__ import annotations

import ctypes
import mmap
import os
import platform
import struct
import time
import uuid
from pathlib import Path

import msgspec

from . import forks
from .fsutil import atomic_write, fsync_dir

MAGIC = b"LKSYNC01"
RECORD_BYTES = 4096
_HEAD = struct.Struct("<8s16s")  # magic, boot id
_COUNTER = struct.Struct("<Q")
_FIELDS = struct.Struct("<QQQQQQ")  # inode, generation, W, W seq, D, D seq
_COUNTER_AT, _FIELDS_AT, _WAKE_AT, _ID_AT = 24, 32, 80, 96
_ID_BYTES = 64  # a length byte and the id of the event ending at W (ids up to 63 bytes)
_LAST_AT = _ID_AT + _ID_BYTES  # pid and CLOCK_MONOTONIC ns of the last durable append
_LAST = struct.Struct("<QQ")
_INGEST_AT = _LAST_AT + _LAST.size  # CLOCK_MONOTONIC ns of the last look at the drop box, by anyone
# The fsync leaders' epoch (u32, bumped by each leader once it has read W) and the W it read
# (u64): a waiter sleeps only for the fsync that will cover it (see Signal.wait's bits).
_EPOCH_AT = _INGEST_AT + 8
_EPOCH = struct.Struct("<QI")
_READ_TRIES = 64

# Waiters sleep in the kernel on a futex in the shared map (a u32 the fsync leader bumps after
# each publication) instead of polling: woken the moment coverage changes, no CPU meanwhile,
# and every wait has a timeout, so a leader killed before waking anyone delays only that long.
_SYS_FUTEX = {"x86_64": 202, "aarch64": 98}.get(platform.machine())
_FUTEX_WAIT, _FUTEX_WAKE, _FUTEX_WAIT_BITSET, _FUTEX_WAKE_BITSET = 0, 1, 9, 10
ALL_BITS = 0xFFFFFFFF  # FUTEX_WAIT and FUTEX_WAKE are the bitset calls with every bit set
try:
    _libc = ctypes.CDLL(None, use_errno=True) if _SYS_FUTEX is not None else None
except OSError:  # pragma: no cover - no C library to call
    _libc = None


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]

_boot: bytes | None = None


def boot_id() -> bytes | None:
    """This boot's id (16 bytes), or None where the kernel does not say (no group commit)."""
    global _boot
    if _boot is None:
        try:
            with open("/proc/sys/kernel/random/boot_id", "rb") as handle:
                _boot = uuid.UUID(handle.read(64).decode().strip()).bytes
        except (OSError, ValueError):
            _boot = b""
    return _boot or None


class SyncState(msgspec.Struct, frozen=True):
    """One consistent reading of the record."""

    inode: int
    generation: int
    written: int
    written_seq: int
    durable: int
    durable_seq: int


class SyncRecord:
    """The memory-mapped `log.sync` of one log; :meth:`update` only under the log lock."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self._map: mmap.mmap | None = None
        self._generation = -1
        self._identity = (0, 0)
        self.synced = Signal(_WAKE_AT)  # an fsync leader let go (coverage may have changed)
        self.unlocked = Signal(_WAKE_AT + 8, wake_one=True)  # a Python holder released the log lock

    def open(self) -> bool:
        """Map the record (creating it under the log lock); False when it cannot be used."""
        if self._map is not None and self._generation == forks.generation:
            return True
        self._forget()
        boot = boot_id()
        if boot is None:
            return False
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
        except OSError:
            return False
        try:
            st = os.fstat(fd)
            if st.st_size < RECORD_BYTES:
                os.ftruncate(fd, RECORD_BYTES)
            self._map = mmap.mmap(fd, RECORD_BYTES)
        except (OSError, ValueError):
            os.close(fd)
            return False
        self._fd, self._generation, self._identity = fd, forks.generation, (st.st_ino, st.st_dev)
        self.synced.attach(self._map)
        self.unlocked.attach(self._map)
        if _HEAD.unpack_from(self._map, 0) != (MAGIC, boot):
            self._reset(boot)
        return True

    @property
    def fd(self) -> int | None:
        return self._fd if self._generation == forks.generation else None

    def still_named(self) -> bool:
        """True when the path still names the file we mapped (nobody removed or replaced it)."""
        try:
            named = os.stat(self.path)
        except OSError:
            return False
        return (named.st_ino, named.st_dev) == self._identity

    def read(self) -> SyncState | None:
        """A consistent reading without any lock; None when it cannot be had (a writer died
        inside an update, a record from another boot): the caller then fsyncs itself."""
        mm = self._map
        if mm is None or self._generation != forks.generation:
            return None
        try:
            for _ in range(_READ_TRIES):
                before = _COUNTER.unpack_from(mm, _COUNTER_AT)[0]
                if before & 1:
                    continue
                fields = _FIELDS.unpack_from(mm, _FIELDS_AT)
                if _COUNTER.unpack_from(mm, _COUNTER_AT)[0] == before:
                    return SyncState(*fields)
        except ValueError:
            pass  # another thread closed the map (the file was replaced)
        return None

    def update(self, state: SyncState) -> None:
        """Publish ``state``; the caller holds the log lock (so there is one updater)."""
        mm = self._map
        if mm is None or self._generation != forks.generation:
            return
        counter = _COUNTER.unpack_from(mm, _COUNTER_AT)[0]
        odd = counter if counter & 1 else counter + 1  # odd already: its updater died midway
        _COUNTER.pack_into(mm, _COUNTER_AT, odd)
        _FIELDS.pack_into(mm, _FIELDS_AT, state.inode, state.generation, state.written, state.written_seq,
                          state.durable, state.durable_seq)
        _COUNTER.pack_into(mm, _COUNTER_AT, odd + 1)

    def set_written_id(self, event_id: str) -> None:
        """Record the id of the event ending at W (under the log lock, like W itself)."""
        mm = self._map
        if mm is None or self._generation != forks.generation:
            return
        raw = event_id.encode()
        if len(raw) >= _ID_BYTES:
            raw = b""  # too long to keep: the next holder reads the tail from the segment
        mm[_ID_AT:_ID_AT + 1 + len(raw)] = bytes([len(raw)]) + raw

    def note_writer(self) -> None:
        """Record which process appended last, and when (under the log lock)."""
        if self._map is not None and self._generation == forks.generation:
            _LAST.pack_into(self._map, _LAST_AT, os.getpid(), time.monotonic_ns())

    def other_writer_within(self, seconds: float) -> bool:
        """True when another process appended durably within the last ``seconds``."""
        if self._map is None or self._generation != forks.generation:
            return False
        pid, at = _LAST.unpack_from(self._map, _LAST_AT)
        return pid != os.getpid() and time.monotonic_ns() - at < seconds * 1e9

    def drop_box_checked_within(self, ns: int) -> bool:
        """True when some lock holder looked for new drop-box files within ``ns``; otherwise
        note that this holder looks now (under the log lock)."""
        if self._map is None or self._generation != forks.generation:
            return False
        now = time.monotonic_ns()
        if now - _COUNTER.unpack_from(self._map, _INGEST_AT)[0] < ns:
            return True
        _COUNTER.pack_into(self._map, _INGEST_AT, now)
        return False

    def begin_epoch(self, target: int) -> int:
        """The fsync leader (one at a time, by the flock on this file) covers up to ``target``:
        return its epoch. Read without a lock, only to choose whom to wake: never trusted."""
        if self._map is None or self._generation != forks.generation:
            return 0
        epoch = (_EPOCH.unpack_from(self._map, _EPOCH_AT)[1] + 1) & 0xFFFFFFFF
        _EPOCH.pack_into(self._map, _EPOCH_AT, target, epoch)  # target first, then its epoch
        return epoch

    def epoch(self) -> tuple[int, int] | None:
        """(W read by the latest fsync leader, its epoch), or None when not known."""
        if self._map is None or self._generation != forks.generation:
            return None
        try:
            target, epoch = _EPOCH.unpack_from(self._map, _EPOCH_AT)
            again = _EPOCH.unpack_from(self._map, _EPOCH_AT)
        except ValueError:
            return None  # another thread closed the map
        return (target, epoch) if again == (target, epoch) else None

    def written_id(self) -> str | None:
        """The id set with :meth:`set_written_id`, for the lock holder; None if unknown."""
        mm = self._map
        if mm is None or self._generation != forks.generation or not mm[_ID_AT]:
            return None
        return mm[_ID_AT + 1:_ID_AT + 1 + mm[_ID_AT]].decode(errors="replace")

    def current(self) -> SyncState:
        """The record as the lock holder sees it (never None: a torn one reads as its fields)."""
        mm = self._map
        if mm is None or self._generation != forks.generation:
            return SyncState(0, 0, 0, 0, 0, 0)
        return SyncState(*_FIELDS.unpack_from(mm, _FIELDS_AT))

    def _reset(self, boot: bytes) -> None:
        old = self.current()
        _HEAD.pack_into(self._map, 0, MAGIC, boot)
        # A new generation: nothing a writer of an earlier record waits for is vouched for.
        self.update(SyncState(0, old.generation + 1, 0, 0, 0, 0))

    def close(self) -> None:
        self.synced.detach()  # the map cannot close while a ctypes view into it is alive
        self.unlocked.detach()
        if self._generation == forks.generation:
            if self._map is not None:
                self._map.close()
            if self._fd is not None:
                os.close(self._fd)
        self._map = self._fd = None

    def _forget(self) -> None:
        self.close()
        self._generation = -1


class Signal:
    """A wake-up through the shared map: a u32 counter and a u32 "someone sleeps" flag.

    A waiter reads :meth:`seen`, calls :meth:`arm`, re-checks its condition (a try-lock, the
    record) and only then :meth:`wait`s; the notifier changes the condition first and then
    :meth:`notify`s, which costs a syscall only when the flag is set. Either the waiter's
    re-check sees the change, or the notifier sees the flag: no wake-up is lost, and every
    wait has a timeout anyway (a notifier killed with -9, a bash holder that never notifies).
    """

    def __init__(self, offset: int, wake_one: bool = False) -> None:
        self.offset = offset
        self.wake_one = wake_one  # a lock: one waiter can take it, the others would only spin
        self._count: ctypes.c_uint32 | None = None
        self._flag: ctypes.c_uint32 | None = None
        self._generation = -1

    def attach(self, mm: mmap.mmap) -> None:
        self._count = ctypes.c_uint32.from_buffer(mm, self.offset)
        self._flag = ctypes.c_uint32.from_buffer(mm, self.offset + 4)
        self._generation = forks.generation

    def detach(self) -> None:
        self._count = self._flag = None

    def _live(self) -> bool:
        return self._count is not None and self._generation == forks.generation

    def waiting(self) -> bool:
        """True when a waiter is (about to go) asleep on this signal."""
        return self._live() and bool(self._flag.value)

    def seen(self) -> int:
        return self._count.value if self._live() else 0

    def arm(self) -> None:
        if self._live():
            self._flag.value = 1

    def wait(self, seen: int, timeout: float, bits: int = ALL_BITS) -> None:
        """Sleep until the counter differs from ``seen``, a wake-up, or ``timeout`` seconds.

        ``bits`` limits the wake-ups to notifications for those bits (every plain
        :meth:`notify` has all of them): whatever wakes or not, the caller re-checks."""
        count = self._count
        if count is None or self._generation != forks.generation or _libc is None:
            time.sleep(timeout)
            return
        if bits == ALL_BITS:
            ts = _Timespec(int(timeout), int((timeout % 1) * 1e9))
            _libc.syscall(_SYS_FUTEX, ctypes.c_void_p(ctypes.addressof(count)), _FUTEX_WAIT, ctypes.c_uint32(seen),
                          ctypes.byref(ts), None, 0)
            return
        until = time.monotonic() + timeout  # FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC time
        ts = _Timespec(int(until), int((until % 1) * 1e9))
        _libc.syscall(_SYS_FUTEX, ctypes.c_void_p(ctypes.addressof(count)), _FUTEX_WAIT_BITSET,
                      ctypes.c_uint32(seen), ctypes.byref(ts), None, ctypes.c_uint32(bits))

    def notify_bits(self, bits: int, how_many: int = 0x7FFFFFFF) -> None:
        """Wake up to ``how_many`` waiters sleeping for one of ``bits``. Others may still sleep,
        so the "someone sleeps" flag stays set (the next plain :meth:`notify` clears it)."""
        if not self._live() or not self._flag.value:
            return
        count = self._count
        count.value = (count.value + 1) & 0xFFFFFFFF
        if _libc is not None:
            _libc.syscall(_SYS_FUTEX, ctypes.c_void_p(ctypes.addressof(count)), _FUTEX_WAKE_BITSET,
                          how_many, None, None, ctypes.c_uint32(bits))

    def notify(self) -> None:
        """Wake the waiters (one for a lock), if any is asleep (the caller has just changed
        what they wait for)."""
        if not self._live() or not self._flag.value:
            return
        count = self._count
        count.value = (count.value + 1) & 0xFFFFFFFF
        woken = 0
        if _libc is not None:
            woken = _libc.syscall(_SYS_FUTEX, ctypes.c_void_p(ctypes.addressof(count)), _FUTEX_WAKE,
                                  1 if self.wake_one else 0x7FFFFFFF, None, None, 0)
        if not self.wake_one or woken <= 0:
            # Nobody left asleep (one arming right now re-checks before it sleeps, or times out).
            self._flag.value = 0


class BootFile:
    """`log.boot`: whether the sidecar may be written without its own fdatasync in this boot."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._trusted = False

    def trusted(self) -> bool:
        """True when the sidecar has been exact (durable or in this boot's page cache) since
        this boot began, so bytes past it are really an unfinished append."""
        if not self._trusted:
            boot = boot_id()
            try:
                recorded = self.path.read_bytes()
            except OSError:
                return False
            self._trusted = boot is not None and recorded == _boot_line(boot)
        return self._trusted

    def record(self) -> bool:
        """Record this boot durably; the caller has just made the sidecar durable and exact."""
        boot = boot_id()
        if boot is None:
            return False
        try:
            atomic_write(self.path, _boot_line(boot))
            fsync_dir(self.path.parent)
        except OSError:
            return False
        self._trusted = True
        return True


def _boot_line(boot: bytes) -> bytes:
    return f"{uuid.UUID(bytes=boot)}\n".encode()

"""Group commit: one fsync acknowledges the durable appends of every process that wrote before it.

A durable append holds the log lock only to write its lines (and note them as complete in the
shared record, eventlog/syncrecord.py); it then waits, outside the lock, until an fsync that
began after its bytes were written has returned:

1. if the record says "durable up to D" for its segment inode and generation and its bytes end
   at or before D, it is acknowledged at once, without a syscall;
2. otherwise it tries to become the fsync leader (a non-blocking flock on `log.sync`, plus a
   thread lock for the threads of one process). The leader reads W, the end of the last
   complete append, fsyncs the segment, then under the log lock checks that nothing was cut
   or rolled back meanwhile (generation, record identity, its own last line still in place),
   advances the tail sidecar to W and publishes D = W: every writer up to W is covered;
3. others poll with a bounded backoff. A leader killed with -9 releases its flock with its
   descriptors, so a waiter takes over; a leader that hangs (SIGSTOP) is waited for only up
   to the lock timeout, then the waiter fsyncs on its own.

A failed fsync acknowledges nothing: the leader, under the log lock, truncates the segment
back to the durable end, rewrites the sidecar durably and bumps the generation, so every
writer whose bytes it was to cover sees a generation it did not write in, fsyncs itself and
then finds its own line gone (an error, never an acknowledgement).

The sidecar `log.tail` stays what readers and the bash emitter rely on: it only advances after
the bytes up to it were fsynced, so readers never see an event that a power cut could take
back, and it is written without its own fdatasync (see `log.boot` in eventlog/syncrecord.py).
"""
from __future__ import annotations

import errno
import os
import threading
import time
from pathlib import Path
from typing import Callable

import msgspec

from .errors import LockTimeoutError, SyncFailedError
from .locking import LogLock, try_lock, unlock
from .segment_fds import SegmentDescriptors
from .segments import is_sealed
from .syncrecord import ALL_BITS, BootFile, SyncRecord, SyncState, boot_id
from .tailmark import MarkWriter, TailMark, format_mark

# A leader killed with -9 wakes nobody: its waiters notice the free flock after at most this.
_WAIT_SLICE = 0.005
# Rolling back after a failed fsync must not give up quickly: the bytes past the durable end
# have to go. (Publishing after a good fsync waits only for the writer's lock bound.)
_ROLLBACK_TIMEOUT = 30.0
_MAX_DELAY, _DELAY_STEP = 0.002, 0.00005
_RECENT = 0.002  # "a moment ago" before this process has timed an fsync of its own


class AppendLostError(SyncFailedError):
    """The append's bytes were removed before an fsync covered them; it was not acknowledged."""


class Ticket(msgspec.Struct, frozen=True):
    """One durable append waiting for its fsync."""

    fd: int  # a descriptor of the segment owned by the group (a duplicate, safe to fsync later)
    segment: str
    inode: int
    generation: int
    start: int
    end: int
    seq: int
    last_line: bytes  # the append's final line: its presence proves nothing below it was cut


class GroupCommit:
    """The group commit of one FileEventLog (one per log object, shared by its threads)."""

    def __init__(self, events_dir: Path, lock: LogLock, marks: MarkWriter, tail_file: Path) -> None:
        self.record = SyncRecord(events_dir / "log.sync")
        self.boot = BootFile(events_dir / "log.boot")
        self._lock, self._marks, self._tail_file = lock, marks, tail_file
        self._leading = threading.Lock()  # flock is per open file: threads elect among themselves first
        self._fds = SegmentDescriptors()
        self._last_fsync = 0.0  # seconds the last fsync took: bounds the wait for more writers
        self._looked = False  # this process has looked at the drop box at least once
        self._published: int | None = None  # the epoch of the fsync this leader just published

    # ------------------------------------------------------------- under the log lock

    def active(self) -> bool:
        """True when durable appends may go through group commit (call under the log lock)."""
        return self.boot.trusted() and self.record.open()

    def vouched_end(self, inode: int, end: int, last_seq: int) -> tuple[int, int] | None:
        """Where the next holder may cut: past the sidecar's ``end`` and past every complete
        append that waits for its fsync; None when nothing may be cut (a sidecar possibly
        older than the disk after a reboot)."""
        if not self.boot.trusted():
            # Where the kernel names no boot, every sidecar is fdatasynced, as before group commit.
            return (end, last_seq) if boot_id() is None else None
        if self.record.open() and not self.record.still_named():
            self.record.close()  # removed or replaced: use the file the path names now
        if self.record.open():
            state = self.record.current()
            if state.inode == inode and state.written > end:
                return state.written, state.written_seq
        return end, last_seq

    def follow(self, inode: int, size: int) -> tuple[int, str] | None:
        """(seq, id) of the event ending the segment when the file grew only by appends noted
        here (group-commit writers of other processes), so the tail need not be read again."""
        if self.record.fd is None:
            return None
        state = self.record.current()
        if state.inode != inode or state.written != size:
            return None
        event_id = self.record.written_id()
        return None if event_id is None else (state.written_seq, event_id)

    def wrote(self, fd: int, segment: str, inode: int, start: int, end: int, seq: int, data: bytes,
              event_id: str) -> Ticket:
        """Note a complete append as written (W) and return the ticket to wait with."""
        state = self.record.current()
        if state.inode != inode:
            # Another segment (or a fresh record): bytes before ours in this inode are not
            # known to be durable, and no waiter of the old one may count on this record.
            state = SyncState(inode, state.generation + 1, 0, 0, 0, 0)
        self.record.set_written_id("")  # W moves: the id is set again after it
        self.record.update(SyncState(inode, state.generation, end, seq, state.durable, state.durable_seq))
        self.record.set_written_id(event_id)
        self.record.note_writer()
        cut = data.rfind(b"\n", 0, len(data) - 1) + 1
        return Ticket(self._fds.hold(fd, inode), segment, inode, state.generation, start, end, seq, data[cut:])

    def contended(self) -> bool:
        """True when another Python writer waits for the log lock or for an fsync: then this
        holder lets go before its fsync. Alone, it fsyncs under the lock (no second round trip), and that
        fsync covers every append waiting for one, which :meth:`synced_inline` publishes."""
        if self.record.unlocked.waiting():
            return True
        state = self.record.current()  # appends still waiting for an fsync: join their group
        if state.written > state.durable:
            return True
        # Another process appended a moment ago: it is about to append again, and holding the
        # lock through an fsync would make it wait for that fsync instead of sharing the next.
        return self.record.other_writer_within(max(2 * self._last_fsync, _RECENT))

    def synced_inline(self, inode: int, end: int, seq: int, event_id: str) -> None:
        """The lock holder fsynced the segment up to ``end`` itself (under the log lock)."""
        state = self.record.current()
        if self.record.fd is None or state.inode != inode:
            return
        self.record.set_written_id("")
        self.record.update(SyncState(inode, state.generation, end, seq, end, seq))
        self.record.set_written_id(event_id)
        self.record.note_writer()
        self.record.synced.notify()

    def drop_box_checked(self, interval_ns: int) -> bool:
        """True when another writer looked at the drop box within ``interval_ns`` (under the
        log lock): eight writers need not each stat it every few milliseconds while holding
        the lock. A process's first look is never skipped."""
        if not self._looked:
            self._looked = True
            return False
        return self.record.fd is not None and self.record.drop_box_checked_within(interval_ns)

    def settle_written(self, fd: int, segment: str, inode: int, size: int) -> None:
        """Make complete appends still waiting at the end of the segment durable and visible
        (under the log lock, from `recover`): their writers may have been killed while they
        waited, and nobody else may append after them to cover them."""
        if not self.active():
            return
        state = self.record.current()
        mark = self._marks.read()
        if (state.inode != inode or state.written != size or state.durable >= size or mark is None
                or mark.segment != segment or mark.inode != inode or mark.size >= size):
            return
        os.fsync(fd)
        self._marks.write_line(format_mark(TailMark(segment, inode, size, state.written_seq)), False)
        self.record.update(SyncState(inode, state.generation, size, state.written_seq, size, state.written_seq))
        self.record.synced.notify()

    def invalidate(self) -> None:
        """Bytes a waiter may own could have been removed (a cut, a rollback): bump the
        generation, so that nobody is acknowledged by an fsync published before."""
        if self.record.fd is None:
            return
        state = self.record.current()
        self.record.update(SyncState(0, state.generation + 1, 0, 0, 0, 0))

    def adopt_boot(self, fd: int, segment: str, inode: int, size: int, head_seq: int) -> None:
        """First holder in a new boot: make segment and sidecar durable, then trust this boot."""
        if boot_id() is None:
            return  # no group commit here: sidecars stay durable
        try:
            os.fsync(fd)
            self._marks.write(TailMark(segment, inode, size, head_seq), True)
        except OSError:
            return  # stay distrustful: sidecars stay durable and nothing past one is cut
        if self.boot.record() and self.record.open():
            self.invalidate()

    # ---------------------------------------------------------- outside the log lock

    def settle(self, ticket: Ticket, timeout: float, forget: Callable[[], None]) -> None:
        """Return once an fsync covers ``ticket``; raise SyncFailedError (nothing acknowledged)
        if the fsync failed or the bytes were removed first."""
        try:
            deadline = time.monotonic() + (timeout if self.record.fd is not None else 0)
            signal = self.record.synced
            armed = False
            while True:
                seen = signal.seen()
                if armed:
                    signal.arm()
                if self._covered(ticket):
                    return
                if self._try_lead():
                    try:
                        if not self._covered(ticket):
                            self._lead(ticket, forget, timeout)
                        return
                    finally:
                        self._unlead()
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                if armed:
                    signal.wait(seen, min(remaining, _WAIT_SLICE), self._wake_bits(ticket))
                armed = True  # the first miss re-checks at once; later ones sleep
            # The leader hangs (stopped?): this writer's own fsync covers it just as well.
            self._sync_and_publish(ticket, None, forget, timeout)
        finally:
            self._fds.release(ticket.fd, ticket.inode)

    def _covered(self, ticket: Ticket) -> bool:
        state = self.record.read()
        return (state is not None and state.inode == ticket.inode and state.generation == ticket.generation
                and state.durable >= ticket.end)

    def _try_lead(self) -> bool:
        if not self._leading.acquire(False):
            return False
        fd = self.record.fd
        if fd is None or not try_lock(fd):
            self._leading.release()
            return False
        return True

    def _wake_bits(self, ticket: Ticket) -> int:
        # Sleep only for the fsync that will cover this append: the one in flight if its
        # leader read W at or past our end, else the next one. Waking the writers of the
        # next fsync with those of this one cost each of them a second sleep (and CPU).
        # A wrong guess costs one extra wake-up or one wait slice, never an acknowledgement.
        known = self.record.epoch()
        if known is None:
            return ALL_BITS
        target, epoch = known
        following = 1 << ((epoch + 1) & 31)
        return following | (1 << (epoch & 31)) if target >= ticket.end else following

    def _unlead(self) -> None:
        epoch, self._published = self._published, None
        try:
            fd = self.record.fd
            if fd is not None:
                unlock(fd)
                self._wake(epoch)
        finally:
            self._leading.release()

    def _wake(self, epoch: int | None) -> None:
        signal = self.record.synced
        if epoch is None:
            signal.notify()  # nothing published (a failure, a bypass): everyone re-checks
            return
        signal.notify_bits(1 << (epoch & 31))  # the writers this fsync covered
        state = self.record.read()
        if state is None or state.written > state.durable:
            # Appends written since the fsync began wait for the next one: wake one of them
            # to lead it (the others sleep on until it is published).
            signal.notify_bits(1 << ((epoch + 1) & 31), 1)

    def _lead(self, ticket: Ticket, forget: Callable[[], None], timeout: float) -> None:
        # Writers queued for the log lock are about to write: let them, for up to half an
        # fsync, so this fsync covers them too instead of the next one (PostgreSQL's
        # commit_delay, but only while someone is actually writing or waiting to).
        # A writer acknowledged by the previous fsync is usually writing its next append right
        # now, so the wait goes on while W keeps moving too.
        limit = time.monotonic() + min(self._last_fsync / 2, _MAX_DELAY)
        before = self.record.read()
        while time.monotonic() < limit:
            time.sleep(_DELAY_STEP)
            now = self.record.read()
            if not self.record.unlocked.waiting() and (now is None or before is None or now.written == before.written):
                break
            before = now
        # Everything complete before the fsync starts is covered by it: read W first.
        state = self.record.read()
        target = None
        if (state is not None and state.inode == ticket.inode and state.generation == ticket.generation
                and state.written >= ticket.end):
            target = (state.written, state.written_seq)
        epoch = self.record.begin_epoch(target[0] if target else ticket.end)
        if self._sync_and_publish(ticket, target, forget, timeout):
            self._published = epoch

    def _sync_and_publish(self, ticket: Ticket, target: tuple[int, int] | None, forget: Callable[[], None],
                          timeout: float) -> bool:
        """fsync ``ticket``'s segment; True once D is published (False: acknowledged without it)."""
        started = time.monotonic()
        try:
            os.fsync(ticket.fd)
        except OSError as exc:
            self._fail(ticket, exc, forget)
        self._last_fsync = time.monotonic() - started
        try:
            self._lock.acquire(timeout)
        except LockTimeoutError:
            # The log lock's holder is stuck (stopped?) and waits stay bounded: our bytes are
            # in the file and our own fsync covers them, so they are acknowledged; the next
            # fsync leader or lock holder admits them to readers (its mark covers every
            # complete append, ours included; `recover` does it when nobody appends again).
            self._check_present(ticket)
            return False
        try:
            st = self._check_present(ticket)
            state = self.record.current()
            end, seq = ticket.end, ticket.seq
            if (target is not None and target[0] > end and state.inode == ticket.inode
                    and state.generation == ticket.generation and self.record.still_named()):
                end, seq = target  # nothing was cut meanwhile: every append up to W is covered
            if not is_sealed(st.st_mode):  # else rotation fsynced and sealed it, the sidecar names its successor
                self._advance_mark(ticket, end, seq)
            if state.inode == ticket.inode and state.generation == ticket.generation and state.durable < end:
                self.record.update(SyncState(state.inode, state.generation, max(state.written, end),
                                             state.written_seq if state.written > end else seq, end, seq))
        finally:
            self._lock.release()
        return True

    def _check_present(self, ticket: Ticket) -> os.stat_result:
        # Cuts and rollbacks remove a suffix: if our last line is still where we wrote it, in
        # a file that still has a name, nothing at or below our bytes was removed.
        st = os.fstat(ticket.fd)
        n = len(ticket.last_line)
        if st.st_nlink == 0 or os.pread(ticket.fd, n, ticket.end - n) != ticket.last_line:
            raise AppendLostError(errno.EIO, f"the append to {ticket.segment} (seq {ticket.seq}) was removed "
                                  "before an fsync covered it (a failed fsync rolled it back): nothing acknowledged")
        return st

    def _advance_mark(self, ticket: Ticket, end: int, seq: int) -> None:
        mark = self._marks.read()
        if mark is not None and (mark.segment != ticket.segment or mark.inode != ticket.inode or mark.size >= end):
            return  # another segment's, or already further (the bash emitter syncs itself)
        self._marks.write_line(format_mark(TailMark(ticket.segment, ticket.inode, end, seq)), False)

    def _fail(self, ticket: Ticket, exc: OSError, forget: Callable[[], None]) -> None:
        # After a failed fsync the page cache cannot be trusted (PostgreSQL's fsyncgate):
        # everything past the durable end goes, and every writer of it gets an error.
        outcome = "the bytes after the last fsync were rolled back, nothing acknowledged"
        self._lock.acquire(_ROLLBACK_TIMEOUT)
        try:
            state = self.record.current()
            end, seq = ticket.start, ticket.seq - 1  # at worst our own bytes
            mark = self._marks.read()
            if mark is not None and mark.inode == ticket.inode and mark.segment == ticket.segment:
                end, seq = mark.size, mark.last_seq
            if state.inode == ticket.inode and state.generation == ticket.generation and state.durable > end:
                end, seq = state.durable, state.durable_seq
            try:
                os.ftruncate(ticket.fd, end)
                os.fsync(ticket.fd)
                self._marks.write(TailMark(ticket.segment, ticket.inode, end, seq), True)
            except OSError as again:
                outcome = (f"nothing acknowledged; removing the bytes failed too ({again.strerror}), so they "
                           "count as an unfinished append that the next writer cuts")
            self.invalidate()
            self._fds.retire(ticket.inode)
            forget()
        finally:
            self._lock.release()
        raise SyncFailedError(exc.errno, f"fsync failed, {outcome}: {exc.strerror}") from exc

    def close(self) -> None:
        self._fds.close()
        self.record.close()



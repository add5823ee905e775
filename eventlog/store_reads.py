"""FileEventLog's reads: streaming events in seq order, without the lock.

A mixin of :class:`eventlog.store.FileEventLog` (the attributes it uses are set there). The
reader, filters and the index's seek marks are loaded where used: an append needs none of them.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, Iterator

from .errors import InvalidEventError, LogCorruptedError
from .segments import find_tail, list_segments
from .tailmark import read_mark

if TYPE_CHECKING:  # pragma: no cover
    from .events import Event, RawEvent
    from .filters import EventFilter
    from .index import EventIndex
    from .reader import OnBadLine


class LogReads:
    """Reading the log: every method takes no lock (a reader ingests first only if the lock is free)."""

    def read(
        self,
        from_seq: int = 1,
        to_seq: int | None = None,
        *,
        filter: EventFilter | None = None,
        types: Iterable[str] = (),
        sources: Iterable[str] = (),
        streams: Iterable[str] = (),
        since: str | None = None,
        until: str | None = None,
        where: Iterable[str] = (),
        ingest: bool = True,
        on_bad_line: OnBadLine | None = None,
        checksums: bool = False,
    ) -> Iterator[Event]:
        """Iterate stored events in seq order, streaming, with optional filters.

        ``checksums`` checks every line's crc as it is read (ChecksumError on a mismatch).
        """
        from .filters import EventFilter
        from .reader import scan

        _check_range(from_seq, to_seq)
        selection = filter or EventFilter.build(types, sources, streams, since, until, where)
        if ingest:
            self._ingest_if_free()
        events = scan(self.paths.log_dir, from_seq, to_seq, index=self._read_index(), on_bad_line=on_bad_line,
                      checksums=checksums)
        if selection.empty:
            return events
        return (e for e in events if selection.matches(e))

    def read_raw(
        self, from_seq: int = 1, to_seq: int | None = None, *, filter: EventFilter | None = None,
        on_bad_line: OnBadLine | None = None,
    ) -> Iterator[RawEvent]:
        """Iterate events with undecoded payloads: the fast path for scans over the envelope."""
        from .reader import scan

        _check_range(from_seq, to_seq)
        if filter is not None and filter.needs_payload:
            raise InvalidEventError("read_raw filters on the envelope only; use read() for --where")
        events = scan(self.paths.log_dir, from_seq, to_seq, raw=True, index=self._read_index(), on_bad_line=on_bad_line)
        if filter is None or filter.empty:
            return events
        return (e for e in events if filter.matches_envelope(e))

    def read_batches(self, from_seq: int = 1, to_seq: int | None = None, *,
                     on_bad_line: OnBadLine | None = None) -> Iterator[list[Event]]:
        """Iterate stored events as lists (one per chunk read), in seq order: the fast path for folds."""
        _check_range(from_seq, to_seq)
        return self.scanner(on_bad_line).batches(from_seq, to_seq)

    def scanner(self, on_bad_line: OnBadLine | None = None):
        """Return a BatchScanner: batch reads that resume where the previous one stopped."""
        from .reader import BatchScanner

        return BatchScanner(self.paths.log_dir, self._read_index(), on_bad_line)

    def get(self, seq: int) -> Event | None:
        """Return the event at ``seq``, or None."""
        for event in self.read(seq, seq, ingest=False):
            return event
        return None

    @property
    def head_seq(self) -> int:
        """The seq of the newest complete event (0 for an empty log); takes no lock."""
        segments = list_segments(self.paths.log_dir)
        if not segments:
            return 0
        newest = segments[-1]
        if newest.compressed:
            raise LogCorruptedError(f"{newest.path}: the newest segment is compressed; only sealed ones may be")
        from .reader import committed_end

        with newest.open() as handle:
            # Up to the last completed append: an unfinished one may still be cut.
            mark = read_mark(self.paths.tail_file)
            if mark is not None and committed_end(self.paths.log_dir, newest, handle.fileno()) is not None:
                return mark.last_seq
            tail, _ = find_tail(handle.fileno(), newest.path, newest.first_seq, quarantine=None)
        return tail.head_seq

    def _read_index(self) -> EventIndex | None:
        # Only seek marks are read from it, and each is checked against the file it names.
        if self._reader_index is None and self.paths.index_file.exists():
            try:
                from .index import EventIndex

                self._reader_index = EventIndex(self.paths.index_file, readonly=True)
            except Exception:
                return None
        return self._reader_index


def _check_range(from_seq: int, to_seq: int | None) -> None:
    if not isinstance(from_seq, int) or from_seq < 1:
        raise InvalidEventError(f"from_seq must be an integer >= 1, got {from_seq!r}")
    if to_seq is not None and (not isinstance(to_seq, int) or to_seq < from_seq):
        raise InvalidEventError(f"to_seq {to_seq!r} must be an integer >= from_seq {from_seq}")

"""The one exception hierarchy of lokilog: every error a caller can catch derives from EventLogError."""
from __future__ import annotations


class EventLogError(Exception):
    """Base of every lokilog error."""


class InvalidEventError(EventLogError, ValueError):
    """An event (or a request about events) is malformed; nothing was written.

    ``parameter`` names the argument the bad value came from (its Python name, e.g. ``since``)
    when the raiser knows it; the message then starts with it, and the CLI shows it as the
    user spells it instead (``--since``).
    """

    def __init__(self, *args: object, parameter: str | None = None) -> None:
        super().__init__(*args)
        self.parameter = parameter

    @property
    def detail(self) -> str:
        """The message without the parameter's name."""
        return super().__str__()

    def __str__(self) -> str:
        return f"{self.parameter}: {self.detail}" if self.parameter else self.detail


class EventTooLargeError(InvalidEventError):
    """An encoded event exceeds the configured maximum line size."""


class EventDecodeError(EventLogError, ValueError):
    """Bytes read from disk or a user are not a valid event."""


class LockTimeoutError(EventLogError, TimeoutError):
    """The log lock could not be taken within its bound."""


class SequenceConflictError(EventLogError):
    """An append named a stream's expected version and the stream had moved on."""

    def __init__(self, stream: str, expected: int, actual: int) -> None:
        super().__init__(
            f"stream {stream!r} is at version {actual}, not the expected {expected}"
        )
        self.stream = stream
        self.expected = expected
        self.actual = actual


class StreamsConflictError(SequenceConflictError):
    """A conditional batch named expected versions for several streams and some had moved on.

    ``conflicts`` maps each such stream to (expected, actual); nothing of the batch was stored.
    """

    def __init__(self, conflicts: dict[str, tuple[int, int]]) -> None:
        stream, (expected, actual) = next(iter(conflicts.items()))
        super().__init__(stream, expected, actual)
        self.conflicts = conflicts
        if len(conflicts) > 1:
            self.args = (f"{self.args[0]} (and {len(conflicts) - 1} more stream(s) moved on)",)


class DuplicateIdError(EventLogError):
    """An id already in the log was reused for a different event (a collision, not a retry)."""


class LogCorruptedError(EventLogError):
    """The log's files are not in a state lokilog can safely append to."""


class SeqGapError(LogCorruptedError):
    """Reading the log found a seq missing: events (a segment, lines) were lost."""

    def __init__(self, before: int, after: int, where) -> None:
        super().__init__(
            f"the log jumps from seq {before} to seq {after} in {where}: {after - before - 1} event(s) are "
            "missing (a segment or lines were removed). Run `lokilog verify`; pass --allow-gaps to read past it"
        )
        self.before = before
        self.after = after


class ChecksumError(LogCorruptedError):
    """A log line's bytes do not match the crc recorded in it."""


class TornWriteError(LogCorruptedError):
    """The active segment ends in a partial or unparseable line."""


class SyncFailedError(EventLogError, OSError):
    """fsync failed: the bytes were rolled back and the append was not acknowledged."""


class LegacyIngestError(EventLogError):
    """The ingester's own state (`.loki/events/legacy.sqlite`) could not be read or written."""


class UnsafeFileError(EventDecodeError):
    """A planted file is a link, not a regular file, too large or too deeply nested: refused, not read."""


class UnsafePathError(EventLogError):
    """A path lokilog would write through leads outside `.loki/` (a symbolic link): refused."""


class LokiDirError(InvalidEventError):
    """The `.loki/` directory named cannot be one: a file is in its way, or its parent does not exist."""


class SettingsFileError(InvalidEventError):
    """A `.loki/` settings file (config, policies, governance) is ambiguous, unreadable or does not parse."""


class LogWriteError(EventLogError, OSError):
    """Writing to the log failed (a full disk, an I/O error); nothing was acknowledged.

    The partial bytes were removed, or, if even that failed (the message says so), they count
    as a torn tail that the next lock holder cuts into quarantine.
    """


class LogTruncatedError(LogCorruptedError):
    """The log ends before events that were already seen: acknowledged events were lost."""

"""lokilog's event log: one durable, append-only log per `.loki/` directory."""
from .appends import Receipt
from .config import Durability, LogSettings
from .errors import (
    DuplicateIdError,
    EventDecodeError,
    EventLogError,
    EventTooLargeError,
    InvalidEventError,
    LockTimeoutError,
    LogCorruptedError,
    SequenceConflictError,
    StreamsConflictError,
    SyncFailedError,
    TornWriteError,
)
from .events import Event, NewEvent, RawEvent, new_event_id, now_timestamp, parse_timestamp
from .filters import EventFilter
from .layout import LokiPaths, resolve_loki_dir
from .memory import MemoryEventLog
from .store import FileEventLog, LogTruncatedError, LogWriteError

#: The default store: the file log.
EventLog = FileEventLog

__all__ = [
    "DuplicateIdError", "Durability", "Event", "EventDecodeError", "EventFilter", "EventLog",
    "EventLogError", "EventTooLargeError", "FileEventLog", "InvalidEventError", "LockTimeoutError",
    "LogCorruptedError", "LogSettings", "LogTruncatedError", "LogWriteError", "LokiPaths",
    "MemoryEventLog", "NewEvent", "RawEvent", "Receipt", "SequenceConflictError",
    "StreamsConflictError", "SyncFailedError", "TornWriteError", "new_event_id", "now_timestamp", "parse_timestamp",
    "resolve_loki_dir",
]

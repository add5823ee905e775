"""lokilog's event log: one durable, append-only log per `.loki/` directory.

The names below are loaded on first use (PEP 562): importing one submodule, such as
``eventlog.fsutil``, must not load the whole store, and every process start pays for what it imports.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

#: Each public name and the submodule that defines it.
_HOMES = {
    "Receipt": "appends",
    "Durability": "config", "LogSettings": "config",
    **dict.fromkeys((
        "DuplicateIdError", "EventDecodeError", "EventLogError", "EventTooLargeError", "InvalidEventError",
        "LockTimeoutError", "LogCorruptedError", "SequenceConflictError", "StreamsConflictError", "SyncFailedError",
        "TornWriteError",
    ), "errors"),
    **dict.fromkeys(("Event", "NewEvent", "RawEvent", "new_event_id", "now_timestamp", "parse_timestamp"), "events"),
    "EventFilter": "filters",
    "LokiPaths": "layout", "resolve_loki_dir": "layout",
    "MemoryEventLog": "memory",
    **dict.fromkeys(("FileEventLog", "LogTruncatedError", "LogWriteError"), "store"),
}

__all__ = sorted([*_HOMES, "EventLog"])


def __getattr__(name: str):
    if name == "EventLog":  # the default store: the file log
        name = "FileEventLog"
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{home}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])


if TYPE_CHECKING:  # pragma: no cover - what type checkers and editors see
    from .appends import Receipt
    from .config import Durability, LogSettings
    from .errors import (
        DuplicateIdError, EventDecodeError, EventLogError, EventTooLargeError, InvalidEventError,
        LockTimeoutError, LogCorruptedError, SequenceConflictError, StreamsConflictError, SyncFailedError,
        TornWriteError,
    )
    from .events import Event, NewEvent, RawEvent, new_event_id, now_timestamp, parse_timestamp
    from .filters import EventFilter
    from .layout import LokiPaths, resolve_loki_dir
    from .memory import MemoryEventLog
    from .store import FileEventLog, LogTruncatedError, LogWriteError

    EventLog = FileEventLog

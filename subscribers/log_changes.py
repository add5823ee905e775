"""File notifications for the log: call back when the log, its drop box or its sidecar changes.

`lokilog watch` and the NATS bridge both wake on them instead of waiting for their next poll.
"""
from __future__ import annotations

from typing import Callable

from watchdog.events import (
    DirCreatedEvent, DirDeletedEvent, DirModifiedEvent, DirMovedEvent, FileClosedEvent, FileCreatedEvent,
    FileDeletedEvent, FileModifiedEvent, FileMovedEvent, FileSystemEventHandler,
)
from watchdog.observers import Observer

from eventlog import LokiPaths

#: Notifications that only say a file was opened or read (watchdog reports them on Linux): a
#: process waking on them would wake on its own reads of the log and spin.
READS_ONLY = frozenset({"opened", "closed_no_write"})

#: Every change but those reads, asked of the kernel itself (inotify's mask): the readers of
#: the log open it many times per append, and each notification delivered only to be dropped
#: holds the interpreter's lock that the woken pass waits for.
CHANGES = [
    FileCreatedEvent, DirCreatedEvent, FileModifiedEvent, DirModifiedEvent, FileMovedEvent, DirMovedEvent,
    FileDeletedEvent, DirDeletedEvent, FileClosedEvent,
]


def observe_log(paths: LokiPaths, on_change: Callable[[], None]) -> Observer:
    """Start an observer that calls ``on_change`` (on watchdog's thread) for every change.

    Raises OSError, with nothing left running, where notifications are unavailable (the inotify
    watch limit, say): the caller's poll interval then bounds the delay.
    """
    class _Changed(FileSystemEventHandler):
        def on_any_event(self, event) -> None:
            if event.event_type not in READS_ONLY:
                on_change()

    observer = Observer()
    try:
        # events/ too: an append ends by updating events/log.tail, which head_seq reads; a pass
        # woken by the segment write alone can run before it and see the old head.
        for directory in (paths.log_dir, paths.pending, paths.events):
            directory.mkdir(parents=True, exist_ok=True)
            observer.schedule(_Changed(), str(directory), recursive=False, event_filter=CHANGES)
        observer.start()
    except OSError:
        observer.stop()
        if observer.is_alive():
            observer.join(timeout=5)
        raise
    return observer

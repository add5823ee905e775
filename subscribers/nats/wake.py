"""Wake the bridge when the log changes (watchdog notifications), so a new event leaves at once."""
from __future__ import annotations

import asyncio
from pathlib import Path

from eventlog import LokiPaths

#: Notifications that only say a file was opened or read (watchdog reports them on Linux).
READS_ONLY = frozenset({"opened", "closed_no_write"})


def watch_log(loki_dir: Path, wake: asyncio.Event, loop: asyncio.AbstractEventLoop):
    """Start an observer that sets ``wake`` on any change of the log or drop box; None if unavailable."""
    from watchdog.events import FileSystemEventHandler
    from watchdog.observers import Observer

    class _Wake(FileSystemEventHandler):
        # Runs on watchdog's dispatcher thread: only hand a flag to the loop.
        def on_any_event(self, event) -> None:
            if event.event_type in READS_ONLY:
                return  # the bridge's own reads of the log: waking on them would spin
            loop.call_soon_threadsafe(wake.set)

    paths = LokiPaths(Path(loki_dir))
    observer = Observer()
    try:
        # events/ too: an append's last step updates events/log.tail, and head_seq reads it; a
        # pass woken by the segment write alone may run before it and see the old head.
        for directory in (paths.log_dir, paths.pending, paths.events):
            directory.mkdir(parents=True, exist_ok=True)
            observer.schedule(_Wake(), str(directory), recursive=False)
        observer.start()
    except OSError:  # e.g. the inotify watch limit: the poll interval still bounds the delay
        observer.stop()
        return None
    return observer


def stop_watching(observer) -> None:
    if observer is not None:
        observer.stop()
        observer.join(timeout=5)

"""Wake the bridge when the log changes (watchdog notifications), so a new event leaves at once."""
from __future__ import annotations

import asyncio
from pathlib import Path

from eventlog import LokiPaths


def watch_log(loki_dir: Path, wake: asyncio.Event, loop: asyncio.AbstractEventLoop):
    """Start an observer that sets ``wake`` on any change of the log or drop box; None if unavailable."""
    from watchdog.events import FileSystemEventHandler
    from watchdog.observers import Observer

    class _Wake(FileSystemEventHandler):
        # Runs on watchdog's dispatcher thread: only hand a flag to the loop.
        def on_any_event(self, event) -> None:
            loop.call_soon_threadsafe(wake.set)

    paths = LokiPaths(Path(loki_dir))
    observer = Observer()
    try:
        for directory in (paths.log_dir, paths.pending):
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

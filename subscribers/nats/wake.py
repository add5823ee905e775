"""Wake the bridge when the log changes (file notifications), so a new event leaves at once."""
from __future__ import annotations

import asyncio
from pathlib import Path

from eventlog import LokiPaths


def watch_log(loki_dir: Path, wake: asyncio.Event, loop: asyncio.AbstractEventLoop):
    """Start an observer that sets ``wake`` on any change of the log or drop box; None if unavailable."""
    from ..log_changes import observe_log

    try:
        # Called on watchdog's dispatcher thread: only hand a flag to the loop.
        return observe_log(LokiPaths(Path(loki_dir)), lambda: loop.call_soon_threadsafe(wake.set))
    except OSError:  # the poll interval still bounds the delay
        return None


def stop_watching(observer) -> None:
    if observer is not None:
        observer.stop()
        observer.join(timeout=5)

"""What route handlers share: the `.loki/` directory and a log object per request."""
from __future__ import annotations

from pathlib import Path

from fastapi import Request

from eventlog import FileEventLog


def loki_dir(request: Request) -> Path:
    return request.app.state.settings.loki_dir


def open_log(request: Request) -> FileEventLog:
    """A log object of its own: handlers run on pool threads, and one object is not shared."""
    return FileEventLog(loki_dir(request))

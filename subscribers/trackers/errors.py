"""Errors of the tracker syncs, rooted in the log's hierarchy so the CLI maps them in one place."""
from __future__ import annotations

from eventlog.errors import EventLogError, InvalidEventError


class TrackerError(EventLogError):
    """A tracker sync could not do what was asked."""


class TrackerConfigError(TrackerError, InvalidEventError):
    """`.loki/config.yaml` or the environment does not configure a tracker properly (exit code 2)."""


class SyncBusyError(TrackerError):
    """Another process is already syncing this tracker."""


class TransientError(TrackerError):
    """A request failed in a way worth retrying (5xx, 429, timeout, dropped connection)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(TrackerError):
    """A request was refused for good (4xx other than 408/429, an unmappable state)."""

"""lokilog as a persistence module of the `eventsourcing` library (extra ``lokilog[eventsourcing]``).

    PERSISTENCE_MODULE=eventlog.integrations.eventsourcing
    LOKI_DIR=/path/to/project/.loki

See docs/EVENTSOURCING.md for how records map to events and what is guaranteed.
"""
from __future__ import annotations

from .factory import LokiFactory
from .recorders import (
    LokiAggregateRecorder, LokiApplicationRecorder, LokiProcessRecorder, LokiSubscription, LokiTrackingRecorder,
)

Factory = LokiFactory

__all__ = [
    "Factory", "LokiFactory", "LokiAggregateRecorder", "LokiApplicationRecorder", "LokiProcessRecorder",
    "LokiSubscription", "LokiTrackingRecorder",
]

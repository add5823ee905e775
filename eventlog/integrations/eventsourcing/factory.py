"""The InfrastructureFactory that `PERSISTENCE_MODULE=eventlog.integrations.eventsourcing` selects."""
from __future__ import annotations

import os

from eventsourcing.persistence import InfrastructureFactory
from eventsourcing.utils import Environment, EnvType, resolve_topic

from ...config import LogSettings
from .datastore import LokiDatastore
from .recorders import (
    LokiAggregateRecorder, LokiApplicationRecorder, LokiProcessRecorder, LokiTrackingRecorder,
)

#: Where the log is: the application's LOKI_DIR (or <APP NAME>_LOKI_DIR), else lokilog's own lookup.
LOKI_DIR = "LOKI_DIR"
#: ``uuid`` (the default: ids read back as UUIDs when they are UUIDs) or ``text`` (always strings).
ORIGINATOR_ID_TYPE = "ORIGINATOR_ID_TYPE"


class LokiFactory(InfrastructureFactory[LokiTrackingRecorder]):
    """Recorders that keep an application's events in a `.loki/` event log.

    Every recorder made by one factory shares one log and one view of it. The log's settings
    (durability, lock timeout, ...) come from the ``LOKI_EVENTS_*`` variables as for every
    lokilog writer; the application's environment may set them too.
    """

    aggregate_recorder_class = LokiAggregateRecorder
    application_recorder_class = LokiApplicationRecorder
    tracking_recorder_class = LokiTrackingRecorder
    process_recorder_class = LokiProcessRecorder

    def __init__(self, env: Environment | EnvType | None):
        super().__init__(env)
        id_type = (self.env.get(ORIGINATOR_ID_TYPE) or "uuid").lower()
        if id_type not in ("uuid", "text"):
            raise OSError(f"Invalid {ORIGINATOR_ID_TYPE} {id_type!r}, must be 'uuid' or 'text'")
        settings = LogSettings.from_env(_log_env(self.env))
        self.datastore = LokiDatastore(self.env.get(LOKI_DIR) or None, settings=settings, originator_id_type=id_type)

    @property
    def _app(self) -> str:
        return self.env.name or ""

    def aggregate_recorder(self, purpose: str = "events") -> LokiAggregateRecorder:
        return self.aggregate_recorder_class(self.datastore, self._app, purpose)

    def application_recorder(self) -> LokiApplicationRecorder:
        cls = self._class(self.APPLICATION_RECORDER_TOPIC, self.application_recorder_class)
        return cls(self.datastore, self._app)

    def tracking_recorder(self, tracking_recorder_class: type[LokiTrackingRecorder] | None = None) -> LokiTrackingRecorder:
        cls = tracking_recorder_class or self._class(self.TRACKING_RECORDER_TOPIC, self.tracking_recorder_class)
        return cls(self.datastore, self._app)

    def process_recorder(self) -> LokiProcessRecorder:
        cls = self._class(self.PROCESS_RECORDER_TOPIC, self.process_recorder_class)
        return cls(self.datastore, self._app)

    def _class(self, key: str, default: type) -> type:
        topic = self.env.get(key)
        if not topic:
            return default
        cls = resolve_topic(topic)
        if not (isinstance(cls, type) and issubclass(cls, default)):
            raise OSError(f"{key} {topic!r} is not a subclass of {default.__name__}")
        return cls

    def close(self) -> None:
        self.datastore.close()


def _log_env(env: Environment) -> dict[str, str]:
    # LogSettings reads LOKI_EVENTS_* from a mapping; the application's environment (with its
    # name-prefixed keys) wins over the process's.
    keys = [k for k in os.environ if k.startswith("LOKI_EVENTS_")]
    keys += [k for k in env if k.startswith("LOKI_EVENTS_")]
    return {k: v for k in keys if (v := env.get(k)) is not None}

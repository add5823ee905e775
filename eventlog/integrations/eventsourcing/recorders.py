"""The library's four recorder kinds over one LokiDatastore (see datastore.py and mapping.py)."""
from __future__ import annotations

import threading
from typing import Any, Sequence
from uuid import UUID

from eventsourcing.persistence import (
    AggregateRecorder, ApplicationRecorder, ListenNotifySubscription, Notification, ProcessRecorder,
    StoredEvent, Subscription, Tracking, TrackingRecorder,
)

from . import mapping
from .datastore import LokiDatastore, library_errors


class LokiRecorder:
    """What every recorder here has: the datastore and the application it records for."""

    def __init__(self, datastore: LokiDatastore, application_name: str = "") -> None:
        self.datastore = datastore
        self.application_name = application_name


class LokiAggregateRecorder(LokiRecorder, AggregateRecorder):
    """Stored events of one purpose ("events", or e.g. "snapshots") as lokilog events."""

    def __init__(self, datastore: LokiDatastore, application_name: str = "", purpose: str = mapping.EVENTS) -> None:
        super().__init__(datastore, application_name)
        self.purpose = purpose

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        self._insert(stored_events, **kwargs)
        return None

    def _insert(self, stored_events: Sequence[StoredEvent], tracking: Tracking | None = None,
                **_: Any) -> list[int]:
        with library_errors():
            return self.datastore.insert(self.application_name, self.purpose, stored_events, tracking)

    def select_events(self, originator_id: UUID | str, *, gt: int | None = None, lte: int | None = None,
                      desc: bool = False, limit: int | None = None) -> Sequence[StoredEvent]:
        with library_errors():
            return self.datastore.select_events(self.application_name, self.purpose, originator_id,
                                                gt, lte, desc, limit)


class LokiApplicationRecorder(LokiAggregateRecorder, ApplicationRecorder):
    """Notification ids are lokilog seqs: only this application's events, so other events leave gaps."""

    def __init__(self, datastore: LokiDatastore, application_name: str = "") -> None:
        super().__init__(datastore, application_name, mapping.EVENTS)

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        return self._insert(stored_events, **kwargs)

    def select_notifications(self, start: int | None, limit: int, stop: int | None = None,
                             topics: Sequence[str] = (), *, inclusive_of_start: bool = True) -> Sequence[Notification]:
        with library_errors():
            return self.datastore.select_notifications(self.application_name, start, limit, stop, topics,
                                                       inclusive_of_start)

    def max_notification_id(self) -> int | None:
        with library_errors():
            return self.datastore.max_notification_id(self.application_name)

    def subscribe(self, gt: int | None = None, topics: Sequence[str] = ()) -> Subscription[ApplicationRecorder]:
        return LokiSubscription(self, gt=gt, topics=topics)


class LokiSubscription(ListenNotifySubscription[LokiApplicationRecorder]):
    """Follows the log live: woken by this process's appends at once, by others' within 50 ms."""

    def __init__(self, recorder: LokiApplicationRecorder, gt: int | None = None, topics: Sequence[str] = ()) -> None:
        super().__init__(recorder=recorder, gt=gt, topics=topics)
        self._listener: threading.Event = self._has_been_notified
        recorder.datastore.listen(self._listener)
        # The first pull may have run before the listener was registered: pull once more, so a
        # save that came in between is not left waiting for the next one.
        self._listener.set()

    def stop(self) -> None:
        super().stop()
        self._recorder.datastore.unlisten(self._listener)


class LokiTrackingRecorder(LokiRecorder, TrackingRecorder):
    """Tracking records as events of their own stream, one per (this application, upstream)."""

    def insert_tracking(self, tracking: Tracking) -> None:
        with library_errors():
            self.datastore.insert(self.application_name, mapping.EVENTS, (), tracking)

    def max_tracking_id(self, application_name: str) -> int | None:
        with library_errors():
            return self.datastore.max_tracking_id(self.application_name, application_name)


class LokiProcessRecorder(LokiTrackingRecorder, LokiApplicationRecorder, ProcessRecorder):
    """Events and the tracking record of the notification that produced them, in one atomic batch."""

    def __init__(self, datastore: LokiDatastore, application_name: str = "") -> None:
        LokiApplicationRecorder.__init__(self, datastore, application_name)

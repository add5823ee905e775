"""The `eventsourcing` library's own recorder test cases, unchanged, against lokilog.

Each class subclasses one test case of the installed library version (`eventsourcing.tests.
persistence`) and only says how to make a recorder: a fresh `.loki/` on a disk-backed file
system, durable appends (fsync) as by default. The library's performance cases run too (they
print their rates; nothing here times anything).
"""
from __future__ import annotations

import threading
import time

import pytest

from eventsourcing.persistence import InfrastructureFactory  # noqa: E402
from eventsourcing.tests.persistence import (  # noqa: E402
    AggregateRecorderTestCase, ApplicationRecorderTestCase, InfrastructureFactoryTestCase,
    NonInterleavingNotificationIDsBaseCase, ProcessRecorderTestCase, TrackingRecorderTestCase,
)
from eventsourcing.utils import Environment  # noqa: E402

from conftest import disk_backed_dir  # noqa: E402
from eventlog import FileEventLog  # noqa: E402
from eventlog.config import Durability, LogSettings  # noqa: E402
from eventlog.integrations.eventsourcing import (  # noqa: E402
    LokiAggregateRecorder, LokiApplicationRecorder, LokiFactory, LokiProcessRecorder, LokiTrackingRecorder,
)
from eventlog.integrations.eventsourcing.datastore import LokiDatastore  # noqa: E402

TOPIC = "eventlog.integrations.eventsourcing"


class OnDisk:
    """Fresh logs in a disk-backed directory, every one closed after the test."""

    @pytest.fixture(autouse=True)
    def _on_disk(self, tmp_path, request):
        self.directory = disk_backed_dir(tmp_path, request.node.name)
        self.datastores: list[LokiDatastore] = []
        yield
        for datastore in self.datastores:
            datastore.close()

    def new_datastore(self) -> LokiDatastore:
        datastore = LokiDatastore(self.directory / f"loki-{len(self.datastores)}", settings=LogSettings())
        self.datastores.append(datastore)
        return datastore


class TestAggregateRecorder(OnDisk, AggregateRecorderTestCase):
    def create_recorder(self) -> LokiAggregateRecorder:
        return LokiAggregateRecorder(self.new_datastore())


class TestSnapshotRecorder(OnDisk, AggregateRecorderTestCase):
    """The same cases for the recorder an application keeps its snapshots in."""

    def create_recorder(self) -> LokiAggregateRecorder:
        return LokiAggregateRecorder(self.new_datastore(), purpose="snapshots")


class TestApplicationRecorder(OnDisk, ApplicationRecorderTestCase[LokiApplicationRecorder]):
    def create_recorder(self) -> LokiApplicationRecorder:
        return LokiApplicationRecorder(self.new_datastore())

    def test_insert_subscribe(self) -> None:
        # The library leaves this case optional (not every recorder can follow live); this one can.
        self.optional_test_insert_subscribe()


class TestTrackingRecorder(OnDisk, TrackingRecorderTestCase):
    def create_recorder(self) -> LokiTrackingRecorder:
        return LokiTrackingRecorder(self.new_datastore())


class TestProcessRecorder(OnDisk, ProcessRecorderTestCase):
    def create_recorder(self) -> LokiProcessRecorder:
        return LokiProcessRecorder(self.new_datastore())


class TestNonInterleavingNotificationIDs(OnDisk, NonInterleavingNotificationIDsBaseCase):
    def create_recorder(self) -> LokiApplicationRecorder:
        return LokiApplicationRecorder(self.new_datastore())


class TestNonInterleavingInASharedLog(OnDisk, NonInterleavingNotificationIDsBaseCase):
    """The same case while another writer appends its own events to the same log throughout:
    the application's ids then have gaps, and its two racing batches still never interleave."""

    @pytest.fixture(autouse=True)
    def _another_writer(self, _on_disk):
        stop = threading.Event()
        self.foreign = 0

        def write() -> None:
            with FileEventLog(self.directory / "loki-0", settings=LogSettings(durability=Durability.NEVER)) as log:
                deadline = time.monotonic() + 60
                while not stop.is_set() and time.monotonic() < deadline and self.foreign < 100_000:
                    log.append("metric", "runner", {"n": self.foreign})
                    self.foreign += 1

        self.writer = threading.Thread(target=write)
        yield
        stop.set()
        self.writer.join(timeout=30)
        assert self.foreign > 0

    def create_recorder(self) -> LokiApplicationRecorder:
        recorder = LokiApplicationRecorder(self.new_datastore())
        self.writer.start()
        return recorder


class TrackingRecorderSubclass(LokiTrackingRecorder):
    pass


class TestInfrastructureFactory(OnDisk, InfrastructureFactoryTestCase[LokiFactory]):
    def setUp(self) -> None:
        self.env = Environment("TestCase", {
            InfrastructureFactory.PERSISTENCE_MODULE: TOPIC,
            "LOKI_DIR": str(self.directory / ".loki"),
        })
        super().setUp()

    def expected_factory_class(self):
        return LokiFactory

    def expected_aggregate_recorder_class(self):
        return LokiAggregateRecorder

    def expected_application_recorder_class(self):
        return LokiApplicationRecorder

    def expected_tracking_recorder_class(self):
        return LokiTrackingRecorder

    def tracking_recorder_subclass(self):
        return TrackingRecorderSubclass

    def expected_process_recorder_class(self):
        return LokiProcessRecorder

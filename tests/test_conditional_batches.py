"""append_many(..., expected_versions={stream: version}): a batch conditional on several streams,
all stored or none, in one process and between processes."""
from __future__ import annotations

import subprocess
import sys
import time

import pytest

from conftest import subprocess_env
from eventlog import FileEventLog, InvalidEventError, MemoryEventLog, NewEvent, StreamsConflictError
from eventlog.config import LogSettings

DRAFTS = [NewEvent(type="t", source="x", stream="s1"), NewEvent(type="t", source="x", stream="s2")]


@pytest.fixture(params=["file", "memory"])
def store(request, loki):
    if request.param == "memory":
        yield MemoryEventLog()
        return
    with FileEventLog(loki, settings=LogSettings()) as log:
        yield log


def test_every_named_stream_is_checked_and_one_mismatch_stores_nothing(store):
    store.append("task", "runner", {}, stream="s1")
    with pytest.raises(StreamsConflictError) as caught:
        store.append_many(DRAFTS, expected_versions={"s1": 0, "s2": 0, "guard": 1})
    assert caught.value.conflicts == {"s1": (0, 1), "guard": (1, 0)}
    assert "and 1 more stream" in str(caught.value)
    assert [e.seq for e in store.read()] == [1]
    receipts = store.append_many(DRAFTS, expected_versions={"s1": 1, "s2": 0, "guard": 0})
    assert [r.seq for r in receipts] == [2, 3]
    assert [r.stream_version for r in receipts] == [2, 1]


def test_a_bad_condition_is_refused_before_anything_is_written(store):
    for bad in ({"s1": -1}, {"s1": "0"}, {"s1": True}, {"": 0}):
        with pytest.raises(InvalidEventError):
            store.append_many(DRAFTS, expected_versions=bad)
    assert list(store.read()) == []


CHILD = r"""
import sys, time
from pathlib import Path
from eventlog import FileEventLog, NewEvent, StreamsConflictError
log = FileEventLog(sys.argv[1])
go = Path(sys.argv[2])
deadline = time.monotonic() + 30
while not go.exists() and time.monotonic() < deadline:
    time.sleep(0.002)
drafts = [NewEvent(type="claim", source=sys.argv[3], stream=s) for s in ("task-1", "task-2", "task-3")]
try:
    log.append_many(drafts, expected_versions={"task-1": 0, "task-2": 0, "task-3": 0})
except StreamsConflictError:
    print("conflict")
else:
    print("stored")
"""


def test_between_processes_exactly_one_of_the_racing_batches_is_stored(loki, tmp_path):
    go = tmp_path / "go"
    racers = [subprocess.Popen([sys.executable, "-c", CHILD, str(loki), str(go), f"racer-{n}"],
                               env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
              for n in range(4)]
    time.sleep(0.5)
    go.touch()
    results = [p.communicate(timeout=60) for p in racers]
    assert sorted(out.strip() for out, _ in results) == ["conflict"] * 3 + ["stored"], results
    with FileEventLog(loki) as log:
        events = list(log.read())
    assert len(events) == 3 and len({e.source for e in events}) == 1, "one batch, whole"

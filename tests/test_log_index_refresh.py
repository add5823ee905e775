"""FileEventLog.refresh_index: plain appends leave the index behind; a refresh catches it up in steps."""
from __future__ import annotations

from eventlog import FileEventLog, NewEvent
from eventlog.index import EventIndex


def test_refresh_in_bounded_steps_then_reads_seek(log):
    log.append_many([NewEvent(type="task", source="runner", payload={"n": i}) for i in range(5000)])
    assert not log.paths.index_file.exists() or EventIndex(log.paths.index_file, readonly=True).position().seq < 5000
    covered = [log.refresh_index(max_events=2000) for _ in range(4)]
    assert covered == [2000, 4000, 5000, 5000]
    mark = EventIndex(log.paths.index_file, readonly=True).seek(4500)
    assert mark is not None and 4500 - 1024 < mark[0] <= 4500
    with FileEventLog(log.paths.root) as reader:
        assert [e.payload["n"] for e in reader.read(4500, 4502)] == [4499, 4500, 4501]
    log.append("task", "runner", {"n": 5000})
    assert log.refresh_index() == 5001

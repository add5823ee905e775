"""FileEventLog.read_batches yields exactly what read() yields, across segments and ranges."""
from __future__ import annotations

from itertools import chain

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventlog import FileEventLog, LogSettings

import eventlog.reader as reader


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_batches_equal_read(loki, monkeypatch, data):
    monkeypatch.setattr(reader, "CHUNK_BYTES", 700)  # several chunks per segment
    with FileEventLog(loki, settings=LogSettings(durability="never", segment_max_bytes=2000)) as log:
        head = log.head_seq
        if head < 60:
            log.append_many([{"type": "task", "source": "t", "payload": {"n": i}} for i in range(60)])
            log.append("task", "t", {"big": "x" * 1800})  # a line longer than a chunk
            log.append_many([{"type": "task", "source": "t", "payload": {"n": i}} for i in range(5)])
            head = log.head_seq
        start = data.draw(st.integers(1, head + 2))
        stop = data.draw(st.one_of(st.none(), st.integers(start, head + 3)))
        assert list(chain.from_iterable(log.read_batches(start, stop))) == list(log.read(start, stop, ingest=False))
        assert all(log.read_batches(start, stop))  # never an empty batch


def test_scanner_resumes_where_it_stopped_and_survives_a_stale_mark(loki):
    with FileEventLog(loki, settings=LogSettings(durability="never", segment_max_bytes=3000)) as log:
        log.append_many([{"type": "task", "source": "t", "payload": {"n": i}} for i in range(30)])
        scanner = log.scanner()
        assert [e.seq for e in chain.from_iterable(scanner.batches(1))] == list(range(1, 31))
        log.append_many([{"type": "task", "source": "t", "payload": {"n": i}} for i in range(30)])
        assert [e.seq for e in chain.from_iterable(scanner.batches(31))] == list(range(31, 61))
        scanner._mark = (scanner._mark[0], 7, 61)  # a mark that points mid-line: not trusted
        log.append_many([{"type": "task", "source": "t", "payload": {"n": 1}}])
        assert [e.seq for e in chain.from_iterable(scanner.batches(61))] == [61]

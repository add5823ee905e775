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


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kinds=st.lists(st.sampled_from(["task", "agent", "metric", "memory"]), min_size=1, max_size=200),
       wanted=st.sets(st.sampled_from(["task", "agent", "metric", "memory"])))
def test_batches_for_some_types_decode_only_those_past_the_envelope(tmp_path_factory, monkeypatch, kinds, wanted):
    from eventlog.codec import Envelope

    monkeypatch.setattr(reader, "CHUNK_BYTES", 900)
    monkeypatch.setattr(reader, "_RECHECK", 2)  # a mix looked at again often, from decoded chunks too
    loki = tmp_path_factory.mktemp("types") / ".loki"
    with FileEventLog(loki, settings=LogSettings(durability="never", segment_max_bytes=3000)) as log:
        log.append_many([{"type": k, "source": "t", "payload": {"n": i}} for i, k in enumerate(kinds)])
        full = list(log.read(ingest=False))
        got = list(chain.from_iterable(log.scanner().batches(1, None, frozenset(wanted))))
    assert [(e.seq, e.id, e.type) for e in got] == [(e.seq, e.id, e.type) for e in full]
    for mine, stored in zip(got, full):
        if stored.type in wanted:
            assert mine == stored
        else:
            assert isinstance(mine, Envelope) or mine == stored  # a mostly-wanted chunk decodes whole


def test_a_chunk_with_blank_lines_keeps_envelopes_and_events_aligned():
    from eventlog.codec import Envelope, decode_chunk_for

    line = b'{"seq":%d,"id":"e%d","type":"%s","source":"s","timestamp":"2026-01-01T00:00:00Z","version":"1.0","payload":{}}\n'
    chunk = line % (1, 1, b"a") + b"\n  \n" + line % (2, 2, b"b") + line % (3, 3, b"a") + line % (4, 4, b"a")
    out = decode_chunk_for(chunk, frozenset({"b"}))
    assert [e.seq for e in out] == [1, 2, 3, 4]
    assert isinstance(out[0], Envelope) and not isinstance(out[1], Envelope) and out[1].type == "b"

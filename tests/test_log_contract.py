"""The append/read contract, run against both stores: the file log and the in-memory model."""
import pytest

from eventlog import (
    DuplicateIdError, EventTooLargeError, FileEventLog, InvalidEventError, LogSettings,
    MemoryEventLog, NewEvent, SequenceConflictError,
)


@pytest.fixture(params=["file", "memory"])
def store(request, loki):
    if request.param == "memory":
        yield MemoryEventLog()
    else:
        with FileEventLog(loki, settings=LogSettings()) as opened:
            yield opened


def test_seqs_are_dense_from_one(store):
    receipts = [store.append("task", "runner", {"i": i}) for i in range(5)]
    assert [r.seq for r in receipts] == [1, 2, 3, 4, 5]
    assert [e.seq for e in store.read()] == [1, 2, 3, 4, 5]
    assert store.head_seq == 5


def test_ids_are_minted_unique_and_128_bits(store):
    receipts = [store.append("task", "runner") for _ in range(50)]
    assert len({r.id for r in receipts}) == 50
    assert all(len(r.id) == 32 for r in receipts)


def test_unknown_types_sources_and_fields_are_kept_as_written(store):
    store.append("quantum", "toaster", {"nested": {"a": [1, 2.5, None, "x"]}}, extra={"hook_envelope": {"k": 1}})
    event = next(store.read())
    assert (event.type, event.source) == ("quantum", "toaster")
    assert event.payload == {"nested": {"a": [1, 2.5, None, "x"]}}
    assert event.extra == {"hook_envelope": {"k": 1}}


def test_an_id_is_idempotent_and_returns_the_stored_seq(store):
    first = store.append("task", "runner", {"a": 1}, id="evt-1")
    store.append("task", "runner", {"b": 2})
    again = store.append("task", "runner", {"a": 1}, id="evt-1")
    assert (first.status, again.status) == ("appended", "duplicate")
    assert again.seq == first.seq == 1
    assert store.head_seq == 2


def test_reusing_an_id_for_a_different_event_is_refused(store):
    store.append("task", "runner", {"a": 1}, id="evt-1")
    with pytest.raises(DuplicateIdError, match="evt-1.*seq 1"):
        store.append("task", "runner", {"a": 2}, id="evt-1")
    assert store.head_seq == 1


def test_expected_version_appends_only_while_the_stream_is_unchanged(store):
    assert store.append("task", "runner", stream="task-1", expected_version=0).stream_version == 1
    assert store.append("task", "runner", stream="task-1", expected_version=1).stream_version == 2
    with pytest.raises(SequenceConflictError, match="'task-1' is at version 2, not the expected 1") as info:
        store.append("task", "runner", stream="task-1", expected_version=1)
    assert (info.value.expected, info.value.actual) == (1, 2)
    assert store.stream_version("task-1") == 2
    assert store.stream_version("task-2") == 0


def test_a_batch_is_all_or_nothing(store):
    store.append("task", "runner", stream="s", expected_version=0)
    batch = [NewEvent(type="a", source="b"), NewEvent(type="a", source="b", stream="s", expected_version=0)]
    with pytest.raises(SequenceConflictError):
        store.append_many(batch)
    assert store.head_seq == 1
    receipts = store.append_many([NewEvent(type="a", source="b"), {"type": "c", "source": "d", "payload": {"x": 1}}])
    assert [r.seq for r in receipts] == [2, 3]


def test_duplicates_inside_one_batch_are_stored_once(store):
    receipts = store.append_many([NewEvent(type="a", source="b", id="same"), NewEvent(type="a", source="b", id="same")])
    assert [r.status for r in receipts] == ["appended", "duplicate"]
    assert store.head_seq == 1


@pytest.mark.parametrize("kwargs, message", [
    ({"type": "", "source": "s"}, "type must be a non-empty string"),
    ({"type": "t", "source": "a\nb"}, "control characters"),
    ({"type": "t", "source": "s", "payload": [1]}, "payload must be a JSON object"),
    ({"type": "t", "source": "s", "id": "has space"}, "event id"),
    ({"type": "t", "source": "s", "id": "../../etc"}, "event id"),
    ({"type": "t", "source": "s", "timestamp": "yesterday"}, "not RFC 3339"),
    ({"type": "t", "source": "s", "expected_version": 0}, "needs a stream"),
    ({"type": "t", "source": "s", "stream": "x", "expected_version": -1}, "integer >= 0"),
    ({"type": "t", "source": "s", "extra": {"seq": 9}}, "shadow envelope"),
])
def test_bad_input_is_refused_with_a_clear_error_and_nothing_written(store, kwargs, message):
    with pytest.raises(InvalidEventError, match=message):
        store.append_many([kwargs])
    assert store.head_seq == 0


def test_oversize_events_are_refused(loki):
    with FileEventLog(loki, settings=LogSettings(max_event_bytes=500)) as small:
        with pytest.raises(EventTooLargeError, match="limit is 500"):
            small.append("t", "s", {"blob": "x" * 600})
        assert small.head_seq == 0


def test_reads_filter_by_type_source_stream_time_and_payload(store):
    store.append("task", "runner", {"task_id": "t1", "n": 1}, stream="t1", timestamp="2026-02-21T10:00:00Z")
    store.append("session", "cli", {"n": 2}, timestamp="2026-02-21T11:00:00.000+00:00")
    store.append("task", "hook", {"task_id": "t2", "ok": True}, stream="t2", timestamp="2026-02-21T12:00:00.123456Z")
    seqs = lambda **kw: [e.seq for e in store.read(**kw)]
    assert seqs(types=["task"]) == [1, 3]
    assert seqs(sources=["cli", "hook"]) == [2, 3]
    assert seqs(streams=["t2"]) == [3]
    assert seqs(since="2026-02-21T10:30:00Z") == [2, 3]
    assert seqs(until="2026-02-21T12:00:00+01:00") == [1, 2]  # 11:00 UTC, inclusive: offsets are instants
    assert seqs(where=["payload.task_id=t1"]) == [1]
    assert seqs(where=["payload.ok=true"]) == [3]
    assert seqs(where=["payload.task_id!=t1"]) == [2, 3]
    assert seqs(where=["type=session"]) == [2]
    assert [e.seq for e in store.read(2, 3)] == [2, 3]


def test_bad_read_ranges_are_refused(store):
    with pytest.raises(InvalidEventError):
        list(store.read(0))
    with pytest.raises(InvalidEventError):
        list(store.read(5, 2))

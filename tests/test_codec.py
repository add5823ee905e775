"""Encoding and decoding of log lines: lossless round trips and clear rejections."""
import math

import msgspec
import pytest
from hypothesis import given, strategies as st

from eventlog import Event, EventDecodeError, InvalidEventError
from eventlog.codec import decode_chunk, decode_event, encode_event, event_from_mapping
from strategies import ids, json_values, names, payloads

extra_fields = st.dictionaries(
    st.text(min_size=1, max_size=10).filter(lambda k: k not in Event.__struct_fields__), json_values, max_size=3
)


@given(ids, names, names, payloads, st.one_of(st.none(), names), extra_fields)
def test_every_event_survives_a_round_trip_through_its_line(event_id, type_, source, payload, stream, extra):
    event = Event(seq=7, id=event_id, type=type_, source=source, timestamp="2026-02-21T10:00:00.000Z",
                  version="1.0", stream=stream, payload=payload, extra=extra)
    line = encode_event(event)
    assert line.endswith(b"\n") and line.count(b"\n") == 1  # control characters are escaped
    assert decode_event(line) == event
    assert msgspec.json.decode(line) == event.to_dict()


def test_unknown_top_level_fields_are_kept_at_the_top_level():
    line = b'{"seq":1,"id":"a","type":"hook","source":"x","timestamp":"t","version":"1.0","payload":{},"extra":{"k":1},"envelope":"claude"}'
    event = decode_event(line)
    assert event.extra == {"extra": {"k": 1}, "envelope": "claude"}
    assert msgspec.json.decode(encode_event(event)) == msgspec.json.decode(line)


def test_lines_are_compact_with_the_envelope_first_and_the_payload_last():
    event = Event(seq=1, id="a", type="task", source="runner", timestamp="2026-02-21T10:00:00.000Z",
                  version="1.0", stream="task-1", payload={"action": "start"})
    assert encode_event(event) == (
        b'{"seq":1,"id":"a","type":"task","source":"runner","timestamp":"2026-02-21T10:00:00.000Z",'
        b'"version":"1.0","stream":"task-1","payload":{"action":"start"}}\n'
    )


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_numbers_are_rejected_rather_than_written_as_null(value):
    event = Event(seq=1, id="a", type="t", source="s", timestamp="x", version="1.0", payload={"deep": [{"v": value}]})
    with pytest.raises(InvalidEventError, match=r"payload\.deep\[0\]\.v holds"):
        encode_event(event)


def test_a_null_payload_value_is_still_allowed():
    event = Event(seq=1, id="a", type="t", source="s", timestamp="x", version="1.0", payload={"v": None})
    assert decode_event(encode_event(event)).payload == {"v": None}


@pytest.mark.parametrize("line, message", [
    (b"not json", "not valid JSON"),
    (b"[1,2]", "an event is a JSON object"),
    (b'{"seq":"1","id":"a","type":"t","source":"s","timestamp":"x","version":"1.0","payload":{}}', "not a v1 event"),
    (b'{"seq":1,"id":"a","type":"t","source":"s","timestamp":"x","version":"1.0","payload":[]}', "not a v1 event"),
    (b'{"seq":1,"id":"a","type":"t","source":"s","timestamp":"x","payload":{}}', "version"),
])
def test_bad_lines_are_rejected_with_the_reason(line, message):
    with pytest.raises(EventDecodeError, match=message):
        decode_event(line)


def test_a_chunk_with_an_unusual_line_falls_back_to_line_by_line_decoding():
    good = encode_event(Event(seq=1, id="a", type="t", source="s", timestamp="x", version="1.0", payload={}))
    odd = encode_event(Event(seq=2, id="b", type="t", source="s", timestamp="x", version="1.0", payload={}, extra={"z": 1}))
    assert decode_chunk(good + good) is not None
    assert decode_chunk(good + odd) is None


def test_event_from_mapping_names_the_bad_field():
    with pytest.raises(EventDecodeError, match="seq"):
        event_from_mapping({"seq": "x", "id": "a", "type": "t", "source": "s", "timestamp": "x", "version": "1.0", "payload": {}})

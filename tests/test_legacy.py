"""Parsing and mapping of Loki Mode's formats (eventlog/legacy/parse.py): pure, so tested exhaustively."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import msgspec
import pytest
from hypothesis import given, strategies as st

from eventlog.errors import EventDecodeError
from eventlog.legacy.parse import (
    complete_lines, derived_id, instant, is_weak_id, match_key, parse_file, parse_flat, salvage,
    split_compound,
)
from legacy_fixtures import bus_py_timestamp, bus_ts_timestamp, flat_line, nested, run_sh_emit_event


@pytest.mark.parametrize("spelling", [
    "2026-02-21T10:00:00Z", "2026-02-21T10:00:00.000Z", "2026-02-21T10:00:00+00:00",
    "2026-02-21T10:00:00.000000+00:00", "2026-02-21T12:00:00+02:00", "2026-02-21T10:00:00.000000000Z",
])
def test_every_spelling_of_one_instant_normalizes_alike(spelling):
    assert instant(spelling) == "2026-02-21T10:00:00.000000Z"


def test_compound_types_split_on_a_known_head_only():
    assert split_compound("session_start", {"provider": "claude"}) == ("session", {"action": "start", "provider": "claude"})
    assert split_compound("task_claimed", {"action": "claim"}) == ("task", {"action": "claim"})  # payload wins
    assert split_compound("iteration_complete", {}) == ("iteration_complete", {})  # unknown head: as written
    assert split_compound("session", {}) == ("session", {})
    assert split_compound("metric_", {}) == ("metric_", {})


def test_ids_under_64_bits_are_weak():
    assert is_weak_id("a1b2c3d4") and is_weak_id("k3j9z0a") and not is_weak_id("0" * 32)
    assert derived_id("f" * 64, 2) == "lm-" + "f" * 32 + "-2"


@pytest.mark.parametrize("style", ["pretty", "compact"])
def test_a_pending_file_maps_to_its_event_and_keeps_the_loki_id(style):
    event = nested("a1b2c3d4", "session_start", "vscode", "2026-02-21T10:00:00.000Z", {"model": "x"})
    raw = json.dumps(event, indent=2 if style == "pretty" else None).encode()
    record = parse_file("f.json", raw)
    assert not record.native and record.legacy_id == "a1b2c3d4"
    assert record.draft.type == "session" and record.draft.source == "vscode"
    assert record.draft.payload == {"action": "start", "model": "x"}
    assert record.draft.extra == {"legacy": {"type": "session_start"}}
    assert record.draft.id == "a1b2c3d4"  # kept unless another Loki Mode event already has it


def test_unknown_types_sources_and_fields_are_kept_as_written():
    event = {**nested("zz", "deploy", "gitlab", "2026-02-21T10:00:00Z", {"a": 1}), "region": "eu"}
    record = parse_file("f.json", json.dumps(event).encode())
    assert (record.draft.type, record.draft.source) == ("deploy", "gitlab")
    assert record.draft.extra["region"] == "eu"


def test_lokilog_drop_box_files_and_strong_ids_are_native():
    from eventlog.events import Event
    from eventlog.pending import drop

    event = Event(seq=0, id="short", type="task", source="cli", timestamp="2026-02-21T10:00:00.000Z",
                  version="1.0", payload={"action": "x"})
    body = dict(event.to_dict())
    body.pop("seq")
    canonical = msgspec.json.encode(body) + b"\n"
    assert parse_file("f.json", canonical).native  # written by lokilog's own drop box
    assert not parse_file("f.json", json.dumps(body).encode()).native
    strong = nested("0123456789abcdef0123", "task", "cli", "2026-02-21T10:00:00Z", {})
    assert parse_file("f.json", json.dumps(strong, indent=2).encode()).native
    assert drop  # the writer whose bytes the first case reproduces


@pytest.mark.parametrize("raw, reason", [
    (b"", "empty"),
    (b'{\n  "id": "a1b2c3d4",\n  "type": "ta', "not valid JSON"),
    (b"[1, 2]", "JSON object"),
    (b'{"id": "a1", "type": "task", "source": "cli"}', "missing field"),
    (b'{"id": "a b", "type": "task", "source": "cli", "timestamp": "2026-02-21T10:00:00Z"}', "event id"),
    (b'{"id": "a1", "type": "task", "source": "cli", "timestamp": "yesterday"}', "RFC 3339"),
    (b'{"id": "a1", "type": "", "source": "cli", "timestamp": "2026-02-21T10:00:00Z"}', "type must be"),
    (b'{"id": "a1", "type": "t", "source": "cli", "timestamp": "2026-02-21T10:00:00Z", "payload": 3}', "payload"),
])
def test_a_bad_file_names_what_is_wrong(raw, reason):
    with pytest.raises(EventDecodeError, match=reason):
        parse_file("f.json", raw)


def test_flat_lines_take_source_from_data_and_default_to_the_runner():
    with_source = parse_flat(flat_line("2026-02-21T10:00:00Z", "task", {"source": "hook", "action": "x"}))
    assert with_source.draft.source == "hook" and with_source.draft.payload == {"action": "x"}
    without = parse_flat(flat_line("2026-02-21T10:00:00Z", "task", {"action": "x"}))
    assert without.draft.source == "runner"
    assert with_source.key == without.key  # the source is not part of the identity


def test_a_string_body_is_kept_under_data():
    record = parse_flat(run_sh_emit_event("2026-02-21T10:00:00Z", "note", "hello world"))
    assert record.draft.payload == {"data": "hello world"}


@pytest.mark.parametrize("line, reason", [
    (b'{"event": "x"}', "missing timestamp, type"),
    (b'{"timestamp": "2026-02-21T10:00:00Z", "type": "t", "da', "not valid JSON"),
    (b'{"timestamp": 5, "type": "t"}', "timestamp must be"),
])
def test_a_bad_flat_line_names_what_is_wrong(line, reason):
    with pytest.raises(EventDecodeError, match=reason):
        parse_flat(line)


def test_salvage_keeps_the_whole_event_after_an_interrupted_write():
    good = flat_line("2026-02-21T10:00:00Z", "task", {"action": "x"}).rstrip(b"\n")
    garbage, tail = salvage(b'{"timestamp":"2026-02-21T09:59:59Z","ty' + good)
    assert tail == good and garbage.startswith(b'{"timestamp"')
    assert salvage(b"no event here") is None


def test_the_two_copies_emit_sh_writes_share_a_key():
    payload = {"action": "complete", "task_id": "t1"}
    event = nested("a1b2c3d4", "task", "runner", "2026-02-21T10:00:00.123Z", payload)
    assert parse_file("f.json", json.dumps(event, indent=2).encode()).key == \
        parse_flat(flat_line("2026-02-21T10:00:00.123Z", "task", payload)).key


_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


@given(
    moment=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(timezone.utc)),
    type=st.sampled_from(["task", "session_start", "metric", "iteration_complete", "x"]),
    payload=st.dictionaries(st.text(min_size=1, max_size=6).filter(lambda k: k != "source"), _values, max_size=4),
)
def test_keys_depend_on_the_instant_not_its_spelling(moment, type, payload):
    a = parse_flat(flat_line(bus_ts_timestamp(moment), type, payload)).key
    b = parse_file("f.json", json.dumps(nested("id1", type, "cli", bus_ts_timestamp(moment), payload)).encode()).key
    assert a == b
    truncated = moment.replace(microsecond=(moment.microsecond // 1000) * 1000)
    assert match_key(bus_py_timestamp(truncated), *split_compound(type, payload)) == a


@given(st.lists(st.binary(max_size=20).map(lambda b: b.replace(b"\n", b"")), max_size=8), st.integers(0, 5))
def test_complete_lines_returns_only_terminated_lines_with_their_offsets(parts, base):
    chunk = b"\n".join(parts)
    lines, end = complete_lines(chunk, base)
    assert end - base == (chunk.rfind(b"\n") + 1)
    for line in lines:
        assert chunk[line.offset - base: line.end - base].rstrip(b"\n").rstrip(b"\r") == line.data

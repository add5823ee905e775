"""append_many's fast encoder writes exactly the bytes of the general path: lines, crcs, sidecar."""
from __future__ import annotations

import msgspec
from hypothesis import given, settings, strategies as st

from eventlog import FileEventLog
from eventlog import plainbatch
from eventlog.codec import DEFAULT_MAX_EVENT_BYTES, add_checksums, check_line, encode_events
from eventlog.tailmark import read_mark
from strategies import json_values, names, payloads

# Names with the characters a byte format could trip on: % signs, quotes, backslashes, non-ASCII.
tricky_names = names | st.sampled_from(["task", "100%", "%d%s%%", 'a"b', "a\\b", "é✓", "{x}"])
drafts = st.lists(st.fixed_dictionaries({"type": tricky_names, "source": tricky_names, "payload": payloads}),
                  min_size=1, max_size=30)


def general(batch, head, pool, stamp):
    events, receipts = plainbatch.build(batch, head, pool, stamp)
    return add_checksums(encode_events(events, DEFAULT_MAX_EVENT_BYTES)[0]), receipts


@settings(max_examples=300, deadline=None)
@given(drafts, st.integers(0, 10**12), st.sampled_from(["2026-02-21T10:00:00.000Z", "2026-12-31T23:59:59.999Z"]))
def test_the_fast_encoding_is_the_general_one_byte_for_byte(given_drafts, head, stamp):
    batch = plainbatch.plain_drafts(given_drafts)
    pool = plainbatch.mint(len(batch))
    fast = plainbatch.encode(batch, head, DEFAULT_MAX_EVENT_BYTES, pool, stamp)
    if fast is None:  # only for what the general path checks itself: nulls (NaN?) and huge lines
        assert b"null" in msgspec.json.encode(batch.payloads)
        return
    assert fast == general(batch, head, pool, stamp)
    assert all(check_line(line) for line in fast[0].splitlines())


@given(st.lists(st.dictionaries(st.text(max_size=5), json_values.filter(lambda v: v is not None), max_size=3),
                min_size=1, max_size=5))
def test_null_free_payloads_take_the_fast_path(payload_list):
    batch = plainbatch.plain_drafts([{"type": "t", "source": "s", "payload": p} for p in payload_list])
    blob = msgspec.json.encode(payload_list)
    encoded = plainbatch.encode(batch, 0, DEFAULT_MAX_EVENT_BYTES)
    assert (encoded is None) == (b"null" in blob)


def test_a_line_near_the_size_limit_goes_back_to_the_general_path():
    batch = plainbatch.plain_drafts([{"type": "t", "source": "s", "payload": {"k": "x" * 900}}])
    assert plainbatch.encode(batch, 0, 1000) is None
    assert plainbatch.encode(batch, 0, 2000) is not None


def test_a_stored_fast_batch_reads_back_and_reencodes_to_the_same_file_and_sidecar(loki):
    drafts_ = [{"type": "task", "source": "runner", "payload": {"n": n, "pct": "100%"}} for n in range(50)]
    drafts_ += [{"type": "other%s", "source": "bridge", "payload": {}}] * 3
    with FileEventLog(loki) as log:
        receipts = log.append_many(drafts_)
        events = list(log.read(ingest=False))
        segment = next(log.paths.log_dir.iterdir())
        mark = read_mark(log.paths.tail_file)
    assert [r.seq for r in receipts] == list(range(1, 54)) and [e.id for e in events] == [r.id for r in receipts]
    stored = segment.read_bytes()
    assert stored == add_checksums(encode_events(events, DEFAULT_MAX_EVENT_BYTES)[0])
    assert (mark.size, mark.last_seq) == (len(stored), 53)

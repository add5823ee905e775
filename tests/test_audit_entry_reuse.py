"""The audit entry line remembered between the chain and its Merkle tree is always the one a recomputation gives."""
from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from eventlog import Event
from projections.audit.entry import GENESIS, encode_body, body_for, entry_line, seal


def _event(seq: int, action: str) -> Event:
    return Event(seq=seq, id=f"id-{seq}", type="task", source="runner", timestamp="2026-01-01T00:00:00.000Z",
                 version="1.0", payload={"action": action, "task_id": f"t-{seq}"})


@given(st.lists(st.tuples(st.integers(1, 3), st.sampled_from([GENESIS, "sha256:" + "a" * 64, "sha256:" + "b" * 64])),
                min_size=1, max_size=30))
def test_every_call_equals_a_fresh_computation(calls):
    events = {seq: _event(seq, "created") for seq in (1, 2, 3)}
    for seq, previous in calls:
        event = events[seq]
        assert entry_line(event, previous) == seal(encode_body(body_for(event, previous)))


def test_an_equal_but_distinct_event_is_recomputed():
    first, twin = _event(1, "created"), _event(1, "completed")
    line, _ = entry_line(first, GENESIS)
    assert entry_line(twin, GENESIS)[0] != line
    assert entry_line(first, "sha256:" + "c" * 64)[0] != line

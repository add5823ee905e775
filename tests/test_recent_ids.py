"""The ledgers' memory of counted usage ids is bounded, and a resumed fold remembers what a fresh one does."""
from __future__ import annotations

from hypothesis import given, settings, strategies as st

from projections.recent_ids import WINDOW, RecentIds, first_time
from projections.engine.snapshots import decode_state, encode_state


def test_a_repeat_close_to_the_first_copy_is_counted_once():
    recent = RecentIds()
    assert first_time(recent, "a") and not first_time(recent, "a")
    for n in range(WINDOW - 1):
        assert first_time(recent, f"x{n}")
    assert not first_time(recent, "a")  # still within the last WINDOW ids


def test_the_memory_stays_bounded():
    recent = RecentIds()
    for n in range(5 * WINDOW + 7):
        first_time(recent, f"id-{n}")
    assert len(recent.newer) + len(recent.older) <= 2 * WINDOW


@settings(max_examples=30, deadline=None)
@given(ids=st.lists(st.integers(0, 60), max_size=400), cut=st.integers(0, 400), window=st.integers(1, 20))
def test_resuming_from_an_encoded_state_remembers_the_same_ids(ids, cut, window):
    import projections.recent_ids as module

    saved, module.WINDOW = module.WINDOW, window
    try:
        fresh, resumed = RecentIds(), RecentIds()
        answers = [first_time(fresh, str(i)) for i in ids]
        resumed_answers = [first_time(resumed, str(i)) for i in ids[:cut]]
        resumed = decode_state(encode_state(resumed), RecentIds)
        resumed_answers += [first_time(resumed, str(i)) for i in ids[cut:]]
        assert answers == resumed_answers
        assert encode_state(fresh) == encode_state(resumed)
    finally:
        module.WINDOW = saved

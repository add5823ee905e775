"""The one backoff arithmetic: exponential, capped, jittered within bounds, Retry-After first."""
import random

from hypothesis import given, strategies as st

from eventlog.retry import backoff_delay, exponential, parse_retry_after

attempts = st.integers(min_value=0, max_value=10_000)
bases = st.floats(min_value=1e-6, max_value=100.0)
caps = st.floats(min_value=1e-6, max_value=3600.0)


def test_exponential_doubles_from_the_base_until_the_cap():
    assert [exponential(n, 0.2, 5.0) for n in range(7)] == [0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0]


@given(attempts, bases, caps)
def test_exponential_never_passes_the_cap_and_never_shrinks(attempt, base, cap):
    assert 0 < exponential(attempt, base, cap) <= cap
    assert exponential(attempt, base, cap) <= exponential(attempt + 1, base, cap)


@given(attempts, bases, caps, st.integers())
def test_jittered_delay_lies_in_the_upper_half_of_the_ceiling(attempt, base, cap, seed):
    ceiling = exponential(attempt, base, cap)
    assert ceiling / 2 <= backoff_delay(attempt, base, cap, rng=random.Random(seed)) <= ceiling


@given(st.floats(min_value=-10.0, max_value=1e9), caps)
def test_a_retry_after_wins_but_is_capped(retry_after, cap):
    assert backoff_delay(3, 1.0, cap, retry_after) == min(max(retry_after, 0.0), cap)


def test_retry_after_is_seconds_or_an_http_date():
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("Thu, 01 Jan 1970 00:01:40 GMT", now=40.0) == 60.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None

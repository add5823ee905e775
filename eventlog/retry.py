"""Delays between attempts: exponential, capped, optionally jittered, Retry-After aware. Pure.

One arithmetic for every retry loop (tracker and OTLP requests, the approval webhook, the NATS
bridge and follower reconnecting, healing retries), so a change of policy is made once. Callers
own the loop (and its stop event): these functions only say how long. The lock's poll is not a
retry (microseconds, on the append path) and keeps its own doubling in eventlog/locking.py.
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import random


def exponential(attempt: int, base: float, cap: float) -> float:
    """Seconds before retry ``attempt`` (0-based): ``base * 2 ** attempt``, at most ``cap``."""
    if attempt >= 64:  # 2 ** 64 times any sane base is past every cap; avoid a float overflow
        return cap
    return min(cap, base * (2 ** max(attempt, 0)))


def backoff_delay(attempt: int, base: float, cap: float, retry_after: float | None = None,
                  rng: "random.Random | None" = None) -> float:
    """Seconds to wait before retry ``attempt`` (0-based): exponential, jittered, capped.

    A server's Retry-After wins over the computed delay (it knows its own limits), but is still
    capped so one bad header cannot stall a drain for hours.
    """
    if retry_after is not None:
        return min(max(retry_after, 0.0), cap)
    if rng is None:
        import random as rng  # imported here: only a caller without its own generator pays for it
    ceiling = exponential(attempt, base, cap)
    return rng.uniform(ceiling / 2, ceiling)  # "equal jitter": never near zero


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Parse a Retry-After header: delta seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    import email.utils

    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - (time.time() if now is None else now))

"""Token-bucket rate limits per key (a token, a client address). Pure: the clock is passed in."""
from __future__ import annotations

import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class Rate:
    """``per_second`` sustained, bursts of up to ``burst`` requests."""

    per_second: float
    burst: int

    @classmethod
    def parse(cls, text: str) -> "Rate":
        """Parse ``RATE/BURST`` such as ``50/100``."""
        rate, _, burst = text.partition("/")
        try:
            parsed = cls(float(rate), int(burst or max(1, int(float(rate)))))
        except ValueError:
            raise ValueError(f"rate {text!r}: expected PER_SECOND/BURST, e.g. 50/100") from None
        if parsed.per_second <= 0 or parsed.burst < 1:
            raise ValueError(f"rate {text!r}: both numbers must be positive")
        return parsed


class Limiter:
    """Buckets by key; ``allow`` says whether one more request fits and, if not, when it would.

    The table is bounded: when it holds ``max_keys`` keys the fullest buckets (idle clients) are
    forgotten first, so a flood of distinct addresses cannot grow memory without bound.
    """

    def __init__(self, rate: Rate, max_keys: int = 10_000) -> None:
        self.rate = rate
        self.max_keys = max_keys
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str, now: float) -> float:
        """Take one request for ``key``; return 0 if allowed, else the seconds until one would be."""
        with self._lock:
            tokens, last = self._buckets.get(key, (float(self.rate.burst), now))
            tokens = min(float(self.rate.burst), tokens + max(now - last, 0.0) * self.rate.per_second)
            if tokens >= 1.0:
                self._store(key, tokens - 1.0, now)
                return 0.0
            self._store(key, tokens, now)
            return (1.0 - tokens) / self.rate.per_second

    def _store(self, key: str, tokens: float, now: float) -> None:
        if key not in self._buckets and len(self._buckets) >= self.max_keys:
            for stale in sorted(self._buckets, key=lambda k: -self._buckets[k][0])[: max(1, self.max_keys // 10)]:
                del self._buckets[stale]
        self._buckets[key] = (tokens, now)

"""Settings of the event log, read from the environment with sane defaults. Pure."""
from __future__ import annotations

import enum
import os
from typing import Mapping

import msgspec

from .codec import DEFAULT_MAX_EVENT_BYTES
from .errors import InvalidEventError

#: The reference system rotates its flat event file at 50 MB; segments follow suit.
DEFAULT_SEGMENT_BYTES = 50 * 1024 * 1024
DEFAULT_LOCK_TIMEOUT = 5.0


class Durability(str, enum.Enum):
    """When an append is acknowledged relative to fsync.

    ALWAYS: every ``append``/``append_many`` call returns after fsync (a batch fsyncs once);
    an acknowledged event survives power loss.
    BATCH: ``append_many`` and ``sync()`` fsync, single ``append`` calls do not; a single
    acknowledged event survives a crash of the process but not power loss until the next
    batch or ``sync()``.
    NEVER: no fsync; acknowledged events survive a crash of the process (they are in the
    kernel's page cache) but not power loss.
    """

    ALWAYS = "always"
    BATCH = "batch"
    NEVER = "never"

    @classmethod
    def parse(cls, value: "str | Durability") -> "Durability":
        """Parse a durability name, naming the choices on error."""
        try:
            return cls(value.lower() if isinstance(value, str) else value)
        except ValueError:
            choices = ", ".join(d.value for d in cls)
            raise InvalidEventError(f"durability {value!r} is not one of {choices}") from None


class LogSettings(msgspec.Struct, frozen=True):
    """Tunable bounds of one log; every field has an environment variable."""

    durability: Durability = Durability.ALWAYS
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT
    segment_max_bytes: int = DEFAULT_SEGMENT_BYTES
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES
    pending_fallback: bool = True

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "LogSettings":
        """Read ``LOKI_EVENTS_*`` variables; unset ones keep their defaults."""
        env = os.environ if env is None else env
        defaults = cls()
        return cls(
            durability=Durability.parse(env.get("LOKI_EVENTS_DURABILITY", defaults.durability.value)),
            lock_timeout=positive_number(env, "LOKI_EVENTS_LOCK_TIMEOUT", defaults.lock_timeout, float),
            segment_max_bytes=positive_number(env, "LOKI_EVENTS_SEGMENT_BYTES", defaults.segment_max_bytes, int),
            max_event_bytes=positive_number(env, "LOKI_EVENTS_MAX_EVENT_BYTES", defaults.max_event_bytes, int),
            pending_fallback=env.get("LOKI_EVENTS_PENDING_FALLBACK", "1").lower() not in ("0", "false", "no", "off"),
        )


def positive_number(env: Mapping[str, str], name: str, default, kind):
    """Read a positive int or float setting; unset or blank keeps ``default``; bad values raise."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise InvalidEventError(f"{name}={raw!r} is not a {kind.__name__}") from None
    if value <= 0:
        raise InvalidEventError(f"{name}={raw!r} must be positive")
    return value

"""Healing's switches and bounds, from the environment.

``LOKI_HEALING`` turns the subscriber on (``1``/``true``/``on``) or off (``0``/``false``/``off``);
unset, it runs when `.loki/governance.yaml` exists (checked in
:mod:`subscribers.registry`, so nothing of healing loads otherwise). ``LOKI_HEALING_MAX_ATTEMPTS`` (3),
``LOKI_HEALING_BACKOFF_BASE`` (5 s), ``LOKI_HEALING_BACKOFF_CAP`` (300 s) and
``LOKI_HEALING_APPROVAL_TIMEOUT`` (86400 s) bound the rules.
"""
from __future__ import annotations

from typing import Mapping

from eventlog import InvalidEventError

from .rules import HealingSettings


def from_env(env: Mapping[str, str]) -> HealingSettings:
    """Read the bounds, with a clear error naming a bad variable."""
    defaults = HealingSettings()
    return HealingSettings(
        max_attempts=int(_number(env, "LOKI_HEALING_MAX_ATTEMPTS", defaults.max_attempts)),
        backoff_base=_number(env, "LOKI_HEALING_BACKOFF_BASE", defaults.backoff_base),
        backoff_cap=_number(env, "LOKI_HEALING_BACKOFF_CAP", defaults.backoff_cap),
        approval_timeout=int(_number(env, "LOKI_HEALING_APPROVAL_TIMEOUT", defaults.approval_timeout)),
    )


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise InvalidEventError(f"{name}={text!r} is not a number") from None
    if value < 0:
        raise InvalidEventError(f"{name}={text!r} must be >= 0")
    return value

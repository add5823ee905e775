"""The subscribers `lokilog watch` drives. Each is gated by an environment variable, as in the
reference system: with none set there is no subscriber, no thread, no import and no disk I/O.

A feature adds its subscriber here as::

    if env.get("LOKI_SYSLOG_ENABLED") == "true":
        from .syslog import SyslogSubscriber
        found.append(SyslogSubscriber.from_env(loki_dir, env))
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

from .base import Subscriber


def enabled_subscribers(loki_dir: Path, env: Mapping[str, str]) -> list[Subscriber]:
    """Return the subscribers that ``env`` enables (none by default)."""
    found: list[Subscriber] = []
    return found

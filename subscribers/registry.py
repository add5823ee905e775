"""Every subscriber lokilog may run, and which of them are enabled for a `.loki/`.

The watch daemon asks :func:`enabled_subscribers` and drains each with its durable cursor.
A subscriber that is not enabled costs nothing: no import, no thread, no disk I/O. Each is
gated by environment variables or by its configuration file, as in the reference system.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping


def enabled_subscribers(loki_dir: Path, env: Mapping[str, str] | None = None) -> list:
    """Return fresh instances of the subscribers enabled by `.loki/` files and the environment."""
    env = os.environ if env is None else env
    found: list = []
    found += _trackers(Path(loki_dir), env)
    return found


def _trackers(loki_dir: Path, env: Mapping[str, str]) -> list:
    if not (loki_dir / "config.yaml").exists():
        return []
    from .trackers.config import load_trackers

    trackers = load_trackers(loki_dir)
    if not trackers:
        return []
    from .trackers.sync import TrackerSync

    return [TrackerSync(loki_dir, config, env) for config in trackers.values()]

"""The subscribers a `.loki/` enables, by configuration. `lokilog watch` runs these.

Enterprise subscribers are off unless configured: with nothing configured this returns an
empty list without importing any subscriber module or HTTP client.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping


def enabled_subscribers(loki_dir: Path, env: Mapping[str, str] | None = None) -> list:
    """Return fresh instances of every subscriber enabled for ``loki_dir``."""
    env = os.environ if env is None else env
    found: list = []
    if (Path(loki_dir) / "config.yaml").exists():
        from .trackers.config import load_trackers

        trackers = load_trackers(Path(loki_dir))
        if trackers:
            from .trackers.sync import TrackerSync

            found += [TrackerSync(Path(loki_dir), config, env) for config in trackers.values()]
    return found

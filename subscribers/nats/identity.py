"""Who a `.loki/` is to the bridge: its stable origin id, and whether it is a mirror."""
from __future__ import annotations

import os
from pathlib import Path

from eventlog import LokiPaths
from eventlog.errors import EventLogError
from eventlog.fsutil import atomic_write

ORIGIN_FILE = "origin-id"
MIRROR_FILE = "nats-mirror.json"


class BridgeError(EventLogError):
    """The bridge cannot run (unreachable server, a mirror asked to bridge, a bad URL)."""


def origin_id(loki_dir: Path) -> str:
    """Return this `.loki/`'s random origin id, creating it once (kept in `.loki/events/`)."""
    path = LokiPaths(Path(loki_dir)).events / ORIGIN_FILE
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, os.urandom(16).hex().encode())
        return path.read_text().strip()


def mirror_marker(loki_dir: Path) -> Path:
    return LokiPaths(Path(loki_dir)).events / MIRROR_FILE


def is_mirror(loki_dir: Path) -> bool:
    return mirror_marker(loki_dir).exists()

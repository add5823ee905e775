"""Where everything lives under a `.loki/` directory. Pure path arithmetic."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

import msgspec

DEFAULT_LOKI_DIR = ".loki"


def resolve_loki_dir(
    explicit: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None
) -> Path:
    """Return the `.loki` directory: the explicit one, else ``$LOKI_DIR``, else ``./.loki``."""
    if explicit is not None:
        return Path(explicit)
    env = os.environ if env is None else env
    return Path(env.get("LOKI_DIR") or DEFAULT_LOKI_DIR)


class LokiPaths(msgspec.Struct, frozen=True):
    """The files and directories of one `.loki/` that the event log owns or reads."""

    root: Path

    @property
    def events(self) -> Path:
        return self.root / "events"

    @property
    def log_dir(self) -> Path:
        return self.events / "log"

    @property
    def lock_file(self) -> Path:
        return self.events / "log.lock"

    @property
    def tail_file(self) -> Path:
        """The tail sidecar: the high-water mark and the active segment's size (eventlog/tailmark.py)."""
        return self.events / "log.tail"

    @property
    def pending(self) -> Path:
        return self.events / "pending"

    @property
    def archive(self) -> Path:
        return self.events / "archive"

    @property
    def quarantine(self) -> Path:
        return self.events / "quarantine"

    @property
    def index_file(self) -> Path:
        return self.events / "index.sqlite"

    @property
    def cursors(self) -> Path:
        return self.events / "cursors"

    @property
    def flat_log(self) -> Path:
        """Loki Mode's flat event file, `.loki/events.jsonl` (read, never written)."""
        return self.root / "events.jsonl"

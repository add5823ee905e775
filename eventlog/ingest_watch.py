"""Whether anything the ingester reads (eventlog/ingest.py) may have changed: a few stats.

Every append asks this first, and almost always hears "nothing". It lives apart from the
ingester so that answer costs no import of the ingester, its legacy decoders or sqlite state:
`lokilog emit` pays its start-up once per event.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import msgspec

from .layout import LokiPaths
from .loki_record_files import record_files
from .safeio import read_small

#: What a pass reads, each with its own change stamp.
PARTS = ("pending", "archive", "flat", "bad", "records")
# A busy writer looks at most this often: appends do not
# pay a few stats each, and an event written meanwhile waits a few ms longer.
_MIN_INTERVAL_NS = 5_000_000
# Directory and file mtimes tick with a coarse clock: a change within this window of the last
# look may not show in the stamp yet, so such a stamp is not trusted.
_AMBIGUOUS_NS = 50_000_000


class ChangeWatch:
    """The change check of one log, with the stamp of the last pass in this process (if any)."""

    def __init__(self, paths: LokiPaths) -> None:
        self.paths = paths
        self.stamp: dict | None = None
        self.checked_at = 0

    @property
    def stamp_file(self) -> Path:
        return self.paths.events / "legacy-stamp.json"

    def changed_parts(self, throttle: bool = False) -> set[str]:
        """Which of pending, archive, flat and bad (files found bad) may have changed.

        Compared with the stamp of the last pass in this process, else the one the last pass
        of any process saved, so a fresh `lokilog emit` with nothing new does a few stats.
        ``throttle`` (appends) answers "nothing" when asked again within a few milliseconds.
        """
        if throttle:
            now = time.monotonic_ns()
            if now - self.checked_at < _MIN_INTERVAL_NS:
                return set()
            self.checked_at = now
        saved = self.stamp if self.stamp is not None else load_stamp(self.stamp_file)
        if saved is None:
            return set(PARTS)
        current = take_stamp(self.paths, [Path(p) for p, _ in saved.get("bad", [])])
        since = saved.get("taken_ns", 0) - _AMBIGUOUS_NS
        return {part for part in PARTS if current[part] != saved.get(part) or _recent(current[part], since)}


def take_stamp(paths: LokiPaths, bad_paths: list[Path]) -> dict:
    """The stat keys of everything a pass reads (``bad_paths``: the files found bad so far)."""
    root = paths.root
    return {
        "pending": stat_key(paths.pending),
        "archive": stat_key(paths.archive),
        "flat": [stat_key(flat_path(root, 1)), stat_key(flat_path(root, 0))],
        "bad": [[str(p), stat_key(p)] for p in bad_paths],
        "records": [[str(r.rel), stat_key(root / r.rel)] for r in record_files(root)],
    }


def flat_path(root: Path, rotation: int) -> Path:
    """`.loki/events.jsonl` (rotation 0) or its rotated copy `.loki/events.jsonl.1`."""
    return root / ("events.jsonl" if rotation == 0 else f"events.jsonl.{rotation}")


def stat_key(path: Path) -> list[int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return [st.st_ino, st.st_size, st.st_mtime_ns]


def _recent(value, since: int) -> bool:
    # Coarse mtimes: a change in the same tick as the stamp leaves the mtime as it was.
    if not value:
        return False
    if isinstance(value[0], int):
        return value[2] >= since
    return any(_recent(v, since) for v in value if v is not None and not isinstance(v, str))


def load_stamp(path: Path) -> dict | None:
    try:
        stamp = msgspec.json.decode(read_small(path))  # msgspec is loaded for the log anyway; json is not
    except (OSError, ValueError):
        return None
    return stamp if isinstance(stamp, dict) else None

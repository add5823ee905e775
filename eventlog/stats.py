"""Summary figures of a log: counts by type and source, sizes, first and last timestamps."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable

from .events import RawEvent
from .layout import LokiPaths
from .segments import list_segments


@dataclass
class LogStats:
    """What ``lokilog stats`` prints."""

    events: int = 0
    segments: int = 0
    bytes: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    first_timestamp: str | None = None
    last_timestamp: str | None = None
    by_type: dict[str, int] = field(default_factory=dict)
    by_source: dict[str, int] = field(default_factory=dict)
    pending_files: int = 0

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def summarize(events: Iterable[RawEvent]) -> LogStats:
    """Fold a stream of events into counts (pure; sizes are filled in by :func:`log_stats`)."""
    stats = LogStats()
    types: Counter[str] = Counter()
    sources: Counter[str] = Counter()
    for event in events:
        if stats.first_seq is None:
            stats.first_seq, stats.first_timestamp = event.seq, event.timestamp
        stats.last_seq, stats.last_timestamp = event.seq, event.timestamp
        types[event.type] += 1
        sources[event.source] += 1
    stats.events = sum(types.values())
    stats.by_type = dict(types.most_common())
    stats.by_source = dict(sources.most_common())
    return stats


def log_stats(paths: LokiPaths, events: Iterable[RawEvent]) -> LogStats:
    """Summarize a log's events and add its file sizes and drop-box backlog."""
    stats = summarize(events)
    segments = list_segments(paths.log_dir)
    stats.segments = len(segments)
    stats.bytes = sum(s.path.stat().st_size for s in segments)
    try:
        stats.pending_files = sum(1 for p in paths.pending.iterdir() if p.name.endswith(".json"))
    except FileNotFoundError:
        pass
    return stats

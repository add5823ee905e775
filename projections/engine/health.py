"""What `lokilog doctor` shows of each projection: position, lag, dead letters and stop, from its files."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from eventlog import FileEventLog

from ..base import Projection
from .fold import DeadLetter
from .snapshots import ProjectionFiles


def health(loki_dir: Path, projections: Iterable[Projection] | None = None) -> list[dict[str, Any]]:
    """Return each projection's position, lag, dead letters and stop, from its files (reads only)."""
    if projections is None:
        from ..registry import all_projections

        projections = all_projections()
    with FileEventLog(loki_dir) as log:
        head = log.head_seq
    report = []
    for projection in projections:
        files = ProjectionFiles(Path(loki_dir), projection.name)
        snapshot = files.read_snapshot()
        views = files.read_position().seq
        seq = snapshot.seq if snapshot is not None else 0
        report.append({
            "name": projection.name,
            "version": projection.version,
            "snapshot_version": snapshot.version if snapshot is not None else None,
            "snapshot_seq": seq,
            "views_seq": views,
            "head_seq": head,
            "lag": max(head - max(seq, views), 0),
            "ahead_of_log": max(seq, views) > head,
            "dead_letter_count": snapshot.dead_letter_count if snapshot is not None else 0,
            "dead_letters": [_letter(d) for d in snapshot.dead_letters[-10:]] if snapshot is not None else [],
            "stopped": _letter(snapshot.stopped) if snapshot is not None and snapshot.stopped else None,
        })
    return report


def _letter(letter: DeadLetter) -> dict[str, Any]:
    return {"seq": letter.seq, "id": letter.id, "type": letter.type, "error": letter.error}



__all__ = ["health"]

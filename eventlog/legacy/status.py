"""What the ingester knows about a `.loki/`, for `lokilog doctor`: read only, it never writes."""
from __future__ import annotations

import os
from pathlib import Path

from ..pending import event_file_names
from ..ingest_watch import flat_path
from .flat import open_flat
from .state import Cursor, LegacyState, legacy_state_path


def legacy_status(paths) -> dict:
    """Describe what the ingester knows about a `.loki/` (for `lokilog doctor`); never writes."""
    out: dict = {"pending_files": 0, "archive_files": 0, "not_yet_ingested": [], "bad_files": [],
                 "bad_lines": [], "bad_line_count": 0, "cursors": [], "flat_files": []}
    state = _try_state(paths)
    marks = state.file_marks() if state else {}
    for directory, label in ((paths.pending, "pending"), (paths.archive, "archive")):
        for name in event_file_names(directory):
            out[f"{label}_files"] += 1
            mark = marks.get(name)
            try:
                st = os.lstat(directory / name)
            except FileNotFoundError:
                continue
            if mark is not None and mark.status == "done" and not (label == "pending" and mark.dir == "archive"):
                continue  # as the ingester sees it: a name already ingested is that event
            if mark is None or (mark.size, mark.mtime_ns) != (st.st_size, st.st_mtime_ns) or mark.status == "done":
                out["not_yet_ingested"].append(str(directory / name))
            else:
                out["bad_files"].append({"path": str(directory / name), "reason": mark.reason})
    cursors = state.cursors() if state else {}
    for rotation in (1, 0):
        path = flat_path(paths.root, rotation)
        info = _flat_info(path, cursors)
        if info is not None:
            out["flat_files"].append(info)
    if state:
        out["cursors"] = [c.__dict__ for c in cursors.values()]
        out["bad_lines"] = [{"path": p, "offset": o, "reason": r} for _, o, p, r in state.bad_lines(50)]
        out["bad_line_count"] = state.bad_line_count()
        state.close()
    return out


def _try_state(paths) -> LegacyState | None:
    path = legacy_state_path(paths.events)
    if not path.exists():
        return None
    try:
        return LegacyState(path, readonly=True)
    except Exception:
        return None


def _flat_info(path: Path, cursors: dict[str, Cursor]) -> dict | None:
    flat = open_flat(path, cursors)
    try:
        size = os.stat(path).st_size
    except FileNotFoundError:
        return None
    info = {"path": str(path), "size": size, "read_to": 0, "unread_bytes": size, "unterminated_tail": False}
    if flat is not None:
        with flat.handle as handle:
            handle.seek(max(0, size - 1))
            last = handle.read(1)
        info.update(read_to=flat.start, unread_bytes=size - flat.start, generation=flat.generation,
                    unterminated_tail=bool(size) and last != b"\n")
    return info

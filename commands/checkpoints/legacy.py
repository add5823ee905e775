"""Reading what Loki Mode's three checkpoint writers left: their directories and index records.

Loki Mode's checkpoint directories mirror `.loki/` (``state/orchestrator.json``, ``queue/...``,
``session.json``, ...) next to a ``metadata.json`` and maybe a ``worktree-snapshot.txt``; its
writers append records with differing field names to ``index.jsonl``. lokilog reads both and
never modifies or deletes them.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from eventlog import EventLogError
from eventlog.events import format_timestamp
from projections.checkpoints import index_lines, parse_index_line

from .capture import is_excluded, scan_tree
from .ids import check_id
from .store import GIT_SIDECAR, MANIFEST, Entry, GitSnapshot, Manifest

METADATA = "metadata.json"
#: run.sh's checkpoint directories: cp-<iteration>-<epoch seconds>.
_RUN_SH_ID = re.compile(r"cp-(\d+)-(\d{9,11})")
_NOT_STATE = (METADATA, GIT_SIDECAR, MANIFEST)


@dataclass(frozen=True)
class IndexRecord:
    """One line of index.jsonl: its exact text and the fields lokilog understands."""

    line: str
    id: str
    created_at: str | None
    message: str


def read_index(path: Path) -> list[IndexRecord]:
    """Parse index.jsonl, skipping lines that are not objects with a valid checkpoint id."""
    records = []
    for line in index_lines(path):
        record = _parse(line)
        if record is not None:
            records.append(record)
    return records


def _parse(line: str) -> IndexRecord | None:
    raw = parse_index_line(line)
    fields = None if raw is None else normalise(raw)
    if fields is None:
        return None
    return IndexRecord(line, fields["id"], fields["created_at"], fields["message"])


def normalise(raw: dict[str, Any]) -> dict[str, Any] | None:
    """Map the writers' field names onto id, created_at, message (None if no valid id).

    run.sh 9.22 writes index lines ``{id, ts, iter, task, sha}`` (short names; ``ts`` RFC 3339 or
    epoch seconds) and names its directories ``cp-<iteration>-<epoch seconds>``: without a time
    of its own, a checkpoint's time comes from that name, never from when lokilog imported it.
    """
    try:
        checkpoint_id = check_id(raw.get("id") or raw.get("checkpoint_id"))
    except EventLogError:
        return None
    created = _first(raw, "created_at", "timestamp", "created", "ts")
    message = _first(raw, "message", "description", "task_description", "label", "task")
    return {
        "id": checkpoint_id,
        "created_at": _as_timestamp(created) or _time_from_id(checkpoint_id),
        "message": message if isinstance(message, str) else "",
    }


def _first(raw: dict[str, Any], *names: str) -> Any:
    for name in names:
        value = raw.get(name)
        if value not in (None, ""):
            return value
    return None


def _as_timestamp(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < 1e11:
        return format_timestamp(datetime.fromtimestamp(value, timezone.utc))
    return None


def _time_from_id(checkpoint_id: str) -> str | None:
    match = _RUN_SH_ID.fullmatch(checkpoint_id)
    return _as_timestamp(int(match.group(2))) if match else None


def read_metadata(directory: Path) -> dict[str, Any]:
    """Return a legacy checkpoint's metadata.json (empty if absent or unreadable)."""
    path = directory / METADATA
    if path.is_symlink():
        return {}
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return raw if isinstance(raw, dict) else {}


def legacy_manifest(directory: Path, checkpoint_id: str, put: Callable[[bytes], str]) -> Manifest:
    """Describe a Loki Mode checkpoint directory as a (merge-restored) manifest."""
    scan = scan_tree(directory, None, put, exclude=_legacy_exclude)
    # A symlink inside a checkpoint could lead anywhere: never restored, reported instead.
    entries = [_no_dir_mode(e) for e in scan.entries if e.kind != "symlink"]
    skipped = scan.skipped + [e.path for e in scan.entries if e.kind == "symlink"]
    meta = normalise({**read_metadata(directory), "id": checkpoint_id}) or {}
    return Manifest(
        id=checkpoint_id, created_at=meta.get("created_at") or "", message=meta.get("message", ""),
        log_seq=None, entries=entries, kind="legacy", created_by="loki-mode",
        git=_sidecar(directory, checkpoint_id), skipped=skipped, legacy=True,
    )


def _legacy_exclude(rel: str) -> bool:
    return rel in _NOT_STATE or is_excluded(rel)


def _no_dir_mode(entry: Entry) -> Entry:
    # Merging into existing directories must not change their permissions.
    return Entry(entry.path, "dir") if entry.kind == "dir" else entry


def _sidecar(directory: Path, checkpoint_id: str) -> GitSnapshot | None:
    path = directory / GIT_SIDECAR
    if path.is_symlink():
        return None
    try:
        sha = path.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    if not sha or not all(c in "0123456789abcdef" for c in sha.lower()):
        return None
    return GitSnapshot(ref=f"refs/loki/cp/{checkpoint_id}", sha=sha, kind="stash")

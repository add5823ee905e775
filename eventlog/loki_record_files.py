"""Where Loki Mode keeps the records that live outside its event bus (see eventlog/legacy/records.py).

Only the listing: the change check of every append (eventlog/ingest_watch.py) stats these
files, and must not load the record decoders to do so.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import msgspec

SOURCE = "runner"
EFFICIENCY_DIR = Path("metrics") / "efficiency"
PROOFS_DIR = Path("proofs")
#: Line files: path under `.loki/`, kind (in the id), event type, source, fixed action or None (the record's type).
LINE_FILES = (
    (Path("metrics") / "trust-events.jsonl", "trust", "trust", SOURCE, None),
    (Path("cost-history.jsonl"), "costhist", "cost", SOURCE, "run_summary"),
    (Path("managed") / "events.ndjson", "managed", "managed", "managed", None),
)

_EFFICIENCY_NAME = re.compile(r"iteration-\d+\.json")


class RecordFile(msgspec.Struct, frozen=True):
    """One file to read: where it is (relative to `.loki/`) and how to map it."""

    rel: Path
    kind: str  # "efficiency", "proof", or a LINE_FILES kind


def record_files(root: Path) -> list[RecordFile]:
    """Every record file present under a `.loki/`, in a deterministic order."""
    found = [RecordFile(rel, kind) for rel, kind, *_ in LINE_FILES if (root / rel).is_file()]
    for name in _names(root / EFFICIENCY_DIR):
        if _EFFICIENCY_NAME.fullmatch(name):
            found.append(RecordFile(EFFICIENCY_DIR / name, "efficiency"))
    for run in _names(root / PROOFS_DIR):
        if (root / PROOFS_DIR / run / "proof.json").is_file():
            found.append(RecordFile(PROOFS_DIR / run / "proof.json", "proof"))
    return found


def _names(directory: Path) -> list[str]:
    try:
        return sorted(os.listdir(directory))
    except (FileNotFoundError, NotADirectoryError):
        return []

"""Moving a chain an older lokilog kept in `.loki/audit/` to `.loki/lokilog/audit/`, automatically.

Loki Mode's JavaScript audit log owns `.loki/audit/audit.jsonl`. lokilog's chain used to live
beside it; now it lives where no Loki Mode writer goes. On first use (any write or read of the
chain) the files that are lokilog's are renamed into the new directory, under the chain's lock,
sealed files first and `head.json` last, so a kill in between is simply resumed by the next use.

What is lokilog's: sealed `audit-<20 digits>.jsonl` files (Loki Mode never writes that name),
`head.json` when it reads as lokilog's head record, `audit.lock`, and `audit.jsonl` only when
every line of it is a lokilog entry (its metadata pins an event: `eventId` and `eventHash`). A
file holding any Loki Mode line is Loki Mode's and is never touched; the chain is then rebuilt
from the log in the new place (it is a projection, so byte for byte the same).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from eventlog.fsutil import fsync_dir
from eventlog.locking import LogLock

from .files import ACTIVE, HEAD, LOCK, audit_dir, loki_mode_audit_dir, read_head_record, sealed_first_seq

_LOCK_TIMEOUT = 10.0


def lokilog_files_in_old_place(loki_dir: Path) -> list[Path]:
    """lokilog's chain files still in `.loki/audit/`, in the order they are moved."""
    old = loki_mode_audit_dir(loki_dir)
    try:
        names = sorted(os.listdir(old))
    except (FileNotFoundError, NotADirectoryError):
        return []
    sealed = [old / n for n in names if sealed_first_seq(old / n) is not None]
    ours = list(sealed)
    if ACTIVE in names and _all_lokilog_entries(old / ACTIVE):
        ours.append(old / ACTIVE)
    if HEAD in names and read_head_record(old) is not None:
        ours.append(old / HEAD)
    if LOCK in names and ours:
        ours.append(old / LOCK)
    return ours


def migrate_chain(loki_dir: Path) -> list[str]:
    """Move lokilog's chain files from `.loki/audit/` to `.loki/lokilog/audit/`; return their names.

    Idempotent and cheap when there is nothing to move (one directory listing). A file whose
    name is already taken in the new place is left where it is (never overwritten).
    """
    if not lokilog_files_in_old_place(loki_dir):
        return []
    new = audit_dir(loki_dir)
    new.mkdir(parents=True, exist_ok=True)
    lock = LogLock(new / LOCK)
    lock.acquire(_LOCK_TIMEOUT)
    moved = []
    try:
        for path in lokilog_files_in_old_place(loki_dir):  # again: another process may have moved them
            if path.name == LOCK:
                path.unlink(missing_ok=True)  # an empty lock file of ours: nothing to keep
                continue
            target = new / path.name
            if target.exists():
                continue
            os.rename(path, target)
            moved.append(path.name)
        if moved:
            fsync_dir(new)
            fsync_dir(loki_mode_audit_dir(loki_dir))
    finally:
        lock.release()
        lock.close()
    return moved


def _all_lokilog_entries(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            data = handle.read()
        pieces = data.split(b"\n")[:-1]  # a last line without its newline is a torn write of ours
        lines = [line for line in pieces if line.strip()]
    except OSError:
        return False
    if not lines:
        return False
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            return False  # not an entry of ours (a torn line of ours is cut by the writer, not here)
        meta = entry.get("metadata") if isinstance(entry, dict) else None
        if not (isinstance(meta, dict) and "eventId" in meta and "eventHash" in meta):
            return False
    return True

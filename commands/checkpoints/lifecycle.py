"""Creating, listing, importing and pruning checkpoints: the write side of the checkpoint store.

A checkpoint is a named log position plus the state files that do not come from the log.
Creation writes every object, then the manifest into `.tmp-<id>/`, renames it to `<id>/`, and
only then appends `checkpoint.created` with an id derived from the checkpoint id. A crash
before the rename leaves debris that :func:`repair` removes; a crash after it leaves a complete
checkpoint whose event :func:`repair` appends (exactly once, thanks to the derived id).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from eventlog import EventLogError, FileEventLog, LockTimeoutError, Receipt, now_timestamp, parse_timestamp
from projections.checkpoints import CheckpointProjection, by_time, records
from projections.engine import catch_up

from . import git_snapshot as git
from .capture import CAPTURE_ROOTS, scan_tree
from .faults import fault_point
from .ids import check_id, mint_id
from .legacy import legacy_manifest, read_index, read_metadata, normalise
from .store import CheckpointError, CheckpointNotFoundError, CheckpointStore, Manifest

SOURCE = "cli"


@dataclass
class Created:
    manifest: Manifest
    receipt: Receipt
    git_error: str | None = None


def created_event_id(checkpoint_id: str) -> str:
    """The id of a checkpoint's creation event: derived, so a repair appends it only once."""
    return f"cp-created-{checkpoint_id}"


def create(loki: Path, message: str, *, kind: str = "manual", prefix: str = "cp") -> Created:
    """Take a checkpoint of the current state (and working tree, in a git repository)."""
    store = CheckpointStore(loki)
    with store.lock():
        return create_locked(store, message, kind=kind, prefix=prefix)


def create_locked(store: CheckpointStore, message: str, *, kind: str, prefix: str) -> Created:
    """Create a checkpoint; the caller holds the store lock."""
    checkpoint_id = mint_id(prefix)
    with FileEventLog(store.loki) as log:
        _ingest(log)
        log_seq = log.head_seq
        scan = scan_tree(store.loki, CAPTURE_ROOTS, store.put_object)
        snap, git_error = _git_snapshot(store.loki, checkpoint_id)
        manifest = Manifest(
            id=checkpoint_id, created_at=now_timestamp(), message=message, log_seq=log_seq,
            entries=scan.entries, roots=list(CAPTURE_ROOTS), kind=kind, git=snap, skipped=scan.skipped,
        )
        store.commit(manifest)
        fault_point("create:before-event")
        receipt = log.append("checkpoint", SOURCE, created_payload(manifest), id=created_event_id(checkpoint_id))
    return Created(manifest, receipt, git_error)


def created_payload(manifest: Manifest) -> dict[str, Any]:
    """The payload of `checkpoint.created` for a manifest."""
    payload: dict[str, Any] = {
        "action": "created", "checkpoint_id": manifest.id, "message": manifest.message,
        "log_seq": manifest.log_seq, "kind": manifest.kind, "created_at": manifest.created_at,
        "created_by": manifest.created_by, "files": sum(e.kind == "file" for e in manifest.entries),
    }
    if manifest.git is not None:
        payload["git_ref"] = manifest.git.ref
    return payload


def _ingest(log: FileEventLog) -> None:
    try:
        log.ingest_pending()
    except LockTimeoutError:
        pass  # the head we record is then a little older: still a true position


def _git_snapshot(loki: Path, checkpoint_id: str):
    top = git.work_tree(loki)
    if top is None:
        return None, None
    try:
        return git.snapshot(top, checkpoint_id), None
    except git.GitError as exc:
        return None, str(exc)  # state is still captured; the caller reports the git failure


# --------------------------------------------------------------------------- reading


def catalogue(loki: Path, write_views: bool = True) -> dict[str, Any]:
    """The checkpoint projection's state (and its view rewritten)."""
    return catch_up(loki, CheckpointProjection(), write_views=write_views).state


def list_checkpoints(loki: Path) -> list[dict[str, Any]]:
    """Every known checkpoint, oldest first, after importing Loki Mode's and repairing our own."""
    repair(loki)
    return by_time(catalogue(loki))


def find(loki: Path, checkpoint_id: str) -> dict[str, Any]:
    """Return one checkpoint's catalogue record, or raise CheckpointNotFoundError."""
    check_id(checkpoint_id)
    for record in list_checkpoints(loki):
        if record["id"] == checkpoint_id:
            return record
    raise CheckpointNotFoundError(f"no checkpoint {checkpoint_id!r} (see `lokilog checkpoint list`)")


def manifest_of(store: CheckpointStore, checkpoint_id: str, put=None) -> Manifest:
    """A checkpoint's manifest: lokilog's own, or one read from a Loki Mode directory."""
    if store.has_manifest(checkpoint_id):
        return store.load_manifest(checkpoint_id)
    directory = store.path_of(checkpoint_id)
    if not directory.is_dir():
        raise CheckpointNotFoundError(f"checkpoint {checkpoint_id!r} has no directory in {store.root}")
    return legacy_manifest(directory, checkpoint_id, put or _hash_only)


def _hash_only(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------- repair


@dataclass
class Repair:
    """What :func:`repair` found and fixed; empty when everything was in order."""

    removed_debris: list[str] = field(default_factory=list)
    recorded: list[str] = field(default_factory=list)
    imported: list[str] = field(default_factory=list)
    forgotten: list[str] = field(default_factory=list)


def repair(loki: Path) -> Repair:
    """Remove half-written checkpoints, record complete ones whose event a crash lost, and
    import Loki Mode's checkpoints (index records and directories) into the log, once each."""
    store = CheckpointStore(loki)
    report = Repair()
    if not store.root.is_dir():
        return report
    with store.lock():
        report.removed_debris = store.clean_debris()
        catalogued = catalogue(loki, write_views=False)["checkpoints"]
        drafts = _missing_events(store, catalogued, report)
        # A prune killed between removing directories and recording it: record it now.
        report.forgotten = sorted(i for i, r in catalogued.items()
                                  if r.get("created_by") == "lokilog" and _vanished(store, i))
        if report.forgotten:
            drafts.append((None, {"action": "pruned", "checkpoint_ids": report.forgotten, "_source": SOURCE}))
        if drafts:
            with FileEventLog(loki) as log:
                for event_id, payload in drafts:
                    log.append("checkpoint", payload.pop("_source"), payload, id=event_id)
    return report


def _vanished(store: CheckpointStore, checkpoint_id: str) -> bool:
    try:
        return not store.exists(checkpoint_id)
    except EventLogError:
        return False  # an id no lokilog writer could have minted: not ours to forget


def _missing_events(store: CheckpointStore, catalogued: dict[str, Any], report: Repair):
    drafts = []
    known = set(catalogued)
    legacy = {i for i, record in catalogued.items() if record.get("legacy")}
    lines = {line for record in catalogued.values() for line in record.get("lines", ())}
    for record in read_index(store.index):
        if record.line not in lines and (record.id not in known or record.id in legacy):
            known.add(record.id)
            legacy.add(record.id)
            lines.add(record.line)
            report.imported.append(record.id)
            digest = hashlib.sha256(record.line.encode()).hexdigest()[:32]
            drafts.append((f"loki-cp-{digest}", _legacy_payload(record.id, record.created_at, record.message,
                                                                line=record.line)))
    for checkpoint_id in store.ids_on_disk():
        if checkpoint_id in known:
            continue
        if store.has_manifest(checkpoint_id):
            report.recorded.append(checkpoint_id)
            payload = {**created_payload(store.load_manifest(checkpoint_id)), "_source": SOURCE}
            drafts.append((created_event_id(checkpoint_id), payload))
        else:
            report.imported.append(checkpoint_id)
            meta = normalise({**read_metadata(store.path_of(checkpoint_id)), "id": checkpoint_id}) or {}
            drafts.append((f"loki-cp-dir-{checkpoint_id}"[:200],
                           _legacy_payload(checkpoint_id, meta.get("created_at"), meta.get("message", ""))))
    return drafts


def _legacy_payload(checkpoint_id: str, created_at: str | None, message: str, line: str | None = None):
    payload = {"action": "created", "checkpoint_id": checkpoint_id, "message": message, "log_seq": None,
               "kind": "legacy", "created_by": "loki-mode", "legacy": True, "_source": "legacy"}
    if created_at:
        payload["created_at"] = created_at
    if line is not None:
        payload["line"] = line
    return payload


# --------------------------------------------------------------------------- retention


@dataclass
class Pruned:
    pruned: list[str]
    kept: list[str]
    protected: str | None
    objects_removed: int = 0


def prune(loki: Path, *, keep: int | None = None, older_than: timedelta | None = None,
          dry_run: bool = False, now: datetime | None = None) -> Pruned:
    """Delete lokilog checkpoints beyond the ``keep`` newest and/or older than ``older_than``.

    The latest pre-rollback checkpoint (the undo of the last rollback) is never pruned, nor is
    any Loki Mode checkpoint (lokilog does not delete files it did not write).
    """
    repair(loki)
    store = CheckpointStore(loki)
    with store.lock():
        if store.journal.exists():
            raise CheckpointError("a rollback is in flight; run `lokilog checkpoint repair` first")
        state = catalogue(loki, write_views=False)
        protected = state["latest_pre_rollback"]
        ours = [r for r in records(state) if not r.get("legacy") and store.has_manifest(r["id"])]
        doomed = _select(ours, keep, older_than, protected, now or datetime.now(timezone.utc))
        result = Pruned([r["id"] for r in doomed], [r["id"] for r in ours if r not in doomed], protected)
        if dry_run or not doomed:
            return result
        _remove(store, result.pruned)
        result.objects_removed = collect_garbage(store)
    catalogue(loki)
    return result


def _select(ours, keep, older_than, protected, now) -> list[dict[str, Any]]:
    newest = {r["id"] for r in ours[max(len(ours) - keep, 0):]} if keep else set()
    doomed = []
    for record in ours:
        if record["id"] == protected or record["id"] in newest:
            continue
        if keep is None and older_than is None:
            continue
        if older_than is not None and now - _created(record) < older_than:
            continue
        doomed.append(record)
    return doomed


def _created(record: dict[str, Any]) -> datetime:
    try:
        return parse_timestamp(record["created_at"])
    except (ValueError, TypeError, KeyError):
        return datetime.now(timezone.utc)  # unknown age: treated as new, so never pruned by age


def _remove(store: CheckpointStore, ids: list[str]) -> None:
    top = git.work_tree(store.loki)
    with FileEventLog(store.loki) as log:
        for checkpoint_id in ids:
            store.remove(checkpoint_id)
            if top is not None:
                git.delete_ref(top, checkpoint_id)
        log.append("checkpoint", SOURCE, {"action": "pruned", "checkpoint_ids": ids})


def collect_garbage(store: CheckpointStore) -> int:
    """Delete objects no lokilog manifest refers to; the caller holds the store lock."""
    live = set()
    for checkpoint_id in store.ids_on_disk():
        if store.has_manifest(checkpoint_id):
            live.update(e.sha256 for e in store.load_manifest(checkpoint_id).entries if e.sha256)
    removed = 0
    for path in store.iter_objects():
        if path.name not in live:
            path.unlink()
            removed += 1
    return removed

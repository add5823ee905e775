"""Rolling back to a checkpoint so that the rollback itself can always be undone.

Order, and why: (1) a pre-rollback checkpoint of the current state, so the rollback is undoable;
(2) a journal naming the target and that checkpoint, written atomically; (3) the files restored;
(4) `--code`: the working tree restored from the git snapshot; (5) `checkpoint.rolled_back`
appended with the journal's event id; (6) the journal removed. A kill -9 anywhere in (3)-(5)
leaves the journal, and the next lokilog checkpoint or rollback command says so and finishes
the rollback from the two durable manifests. A kill before the journal leaves the files
untouched; so once lokilog has run again they are the old state or the new one, never a mix.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import msgspec

from eventlog import FileEventLog, parse_timestamp
from eventlog.fsutil import atomic_write, fsync_dir
from projections.checkpoints import by_time

from . import git_snapshot as git
from .faults import fault_point
from .restore import Outcome, execute, plan
from .store import CheckpointError, CheckpointNotFoundError, CheckpointStore, Manifest, encode_json
from .lifecycle import SOURCE, catalogue, create_locked, manifest_of, repair

MAX_LISTED = 200  # paths listed in the event; the count is always exact


class Journal(msgspec.Struct, frozen=True):
    """A rollback in flight: everything needed to finish it after a crash."""

    event_id: str
    checkpoint_id: str
    pre_rollback_checkpoint: str
    to_seq: int | None
    code: bool


@dataclass
class RolledBack:
    checkpoint_id: str
    pre_rollback_checkpoint: str
    to_seq: int | None
    outcome: Outcome
    code_restored: bool = False
    code_command: str | None = None
    recovered: bool = False
    errors: list[str] = field(default_factory=list)

    @property
    def undo_command(self) -> str:
        return f"lokilog rollback {self.pre_rollback_checkpoint}" + (" --code" if self.code_restored else "")


def rollback(loki: Path, target: str, *, code: bool = False,
             progress: Callable[[int, int], None] | None = None, event_id: str | None = None) -> RolledBack:
    """Restore checkpoint ``target`` (or "latest") after snapshotting the current state.

    ``progress(paths done, paths in all)`` follows the restore of the checkpoint's files.
    ``event_id`` names the `checkpoint.rolled_back` event, so a caller acting on behalf of
    another event (healing) can tell afterwards whether this rollback was recorded.
    """
    finish_interrupted(loki)
    repair(loki)
    store = CheckpointStore(loki)
    with store.lock():
        checkpoint_id = resolve(loki, target)
        target_manifest = manifest_of(store, checkpoint_id, put=store.put_object)
        store.flush()
        pre = create_locked(store, f"before rollback to {checkpoint_id}", kind="pre-rollback", prefix="rb-pre")
        journal = Journal(event_id=event_id or f"cp-rollback-{os.urandom(12).hex()}", checkpoint_id=checkpoint_id,
                          pre_rollback_checkpoint=pre.manifest.id, to_seq=_to_seq(loki, target_manifest),
                          code=code)
        atomic_write(store.journal, encode_json(journal))
        fault_point("rollback:after-journal")
        result = _finish(store, journal, target_manifest, pre.manifest, progress)
        if pre.git_error:
            result.errors.append(f"git snapshot of the current tree failed: {pre.git_error}")
    result.errors += refresh_views(loki)
    return result


def resolve(loki: Path, target: str) -> str:
    """Turn "latest" into the newest checkpoint that is not a pre-rollback snapshot."""
    if target != "latest":
        return target
    candidates = [r for r in by_time(catalogue(loki, write_views=False)) if r.get("kind") != "pre-rollback"]
    if not candidates:
        raise CheckpointNotFoundError("there is no checkpoint yet (take one with `lokilog checkpoint create`)")
    return candidates[-1]["id"]


def finish_interrupted(loki: Path) -> RolledBack | None:
    """Finish a rollback a crash interrupted (roll forward from its journal), if there is one."""
    store = CheckpointStore(loki)
    if not store.journal.exists():
        return None
    with store.lock():
        try:
            journal = msgspec.json.decode(store.journal.read_bytes(), type=Journal)
        except FileNotFoundError:
            return None  # another process finished it while we waited for the lock
        except msgspec.DecodeError as exc:
            raise CheckpointError(f"{store.journal}: unreadable rollback journal: {exc}") from exc
        target = manifest_of(store, journal.checkpoint_id, put=store.put_object)
        store.flush()
        pre = store.load_manifest(journal.pre_rollback_checkpoint)
        result = _finish(store, journal, target, pre)
    result.recovered = True
    result.errors += refresh_views(loki)
    return result


def _finish(store: CheckpointStore, journal: Journal, target: Manifest, pre: Manifest,
            progress: Callable[[int, int], None] | None = None) -> RolledBack:
    ops = plan(pre.entries, target)
    half = len(ops) // 2
    first = None if progress is None else (lambda done, _: progress(done, len(ops)))
    second = None if progress is None else (lambda done, _: progress(half + done, len(ops)))
    outcome = execute(store.loki, ops[:half], store.read_object, first)
    fault_point("rollback:mid-restore")
    rest = execute(store.loki, ops[half:], store.read_object, second)
    outcome = Outcome(outcome.restored + rest.restored, outcome.removed + rest.removed, outcome.errors + rest.errors)
    result = RolledBack(journal.checkpoint_id, journal.pre_rollback_checkpoint, journal.to_seq, outcome)
    _code(store.loki, journal, target, result)
    fault_point("rollback:before-event")
    with FileEventLog(store.loki) as log:
        log.append("checkpoint", SOURCE, _payload(result), id=journal.event_id)
    store.journal.unlink()
    fsync_dir(store.root)
    return result


def _code(loki: Path, journal: Journal, target: Manifest, result: RolledBack) -> None:
    if target.git is None:
        if journal.code:
            result.errors.append(f"--code: checkpoint {target.id} has no working-tree snapshot")
        return
    result.code_command = git.apply_command(target.git)
    if not journal.code:
        return
    top = git.work_tree(loki)
    if top is None:
        result.errors.append("--code: the project is not in a git repository any more")
        return
    try:
        git.restore(top, target.git, loki)
        result.code_restored = True
    except git.GitError as exc:
        result.errors.append(f"--code: {exc}")


def _payload(result: RolledBack) -> dict[str, Any]:
    outcome = result.outcome
    return {
        "action": "rolled_back", "checkpoint_id": result.checkpoint_id, "to_seq": result.to_seq,
        "pre_rollback_checkpoint": result.pre_rollback_checkpoint,
        "restored": outcome.restored[:MAX_LISTED], "restored_count": len(outcome.restored),
        "removed": outcome.removed[:MAX_LISTED], "removed_count": len(outcome.removed),
        "errors": (outcome.errors + result.errors)[:MAX_LISTED], "code_restored": result.code_restored,
        "undo": result.undo_command,
    }


def _to_seq(loki: Path, manifest: Manifest) -> int | None:
    """The log position to rewind run state to; for Loki Mode's checkpoints, found by time."""
    if manifest.log_seq is not None or not manifest.created_at:
        return manifest.log_seq
    try:
        limit = parse_timestamp(manifest.created_at)
    except ValueError:
        return None
    last = 0
    with FileEventLog(loki) as log:
        for event in log.read_raw():
            if parse_timestamp(event.timestamp) > limit:
                break
            last = event.seq
    return last


def refresh_views(loki: Path) -> list[str]:
    """Rewrite every registered projection's views; return the failures (not raised).

    All of them, not only run state: a restore may have put back an old copy of any view that
    lives under `state/`, and catching up rewrites each view from its state. The rollback is
    already recorded when this runs, so a failing projection is reported rather than raised,
    and the undo command still reaches the user.
    """
    from projections.engine import catch_up
    from projections.registry import all_projections

    failures = []
    for projection in all_projections():
        try:
            catch_up(loki, projection)
        except Exception as exc:  # noqa: BLE001 - another feature's projection; see docstring
            failures.append(f"views of projection {projection.name!r} not rewritten: {exc}")
    return failures

"""Rebuilding in two processes: the audit chain's folds beside all the others, on two cores.

The audit and Merkle folds hash every event and cost about as much as every other fold
together, and they share nothing with them but the log: folding them in a forked child while
this process folds the rest halves a rebuild's wall time on a machine with two cores or more.
Each group is an ordinary :func:`projections.engine.rebuild` (one pass, the same swap of
snapshots and views), so what lands on disk is what one process would write; only the order in
which the two groups finish differs, and each projection's files are replaced on their own
anyway. The child dies with its parent (a crash of the command is a crash of both), and an
error in the child is raised here once this process's group is done. When the audit folds
cost little (they are not rebuilt, or their block memos cover the log: `engine/blocks.py`),
the child takes some of the other ledgers instead, so the two halves stay even.
"""
from __future__ import annotations

import ctypes
import json
import os
import signal
from pathlib import Path
from typing import Iterable

from eventlog import errors as log_errors

from .base import Projection
from .engine.blocks import read_memo
from .engine.fold import DeadLetter
from .engine.rebuilding import rebuild
from .engine.runner import Progress, ProjectionState
from .engine.snapshots import decode_state, encode_state

#: Projections folded in the child: the two that hash every event (and share its entry memo).
CHILD_GROUP = frozenset({"audit", "audit-merkle"})
#: Folded in the child too when the audit group is not rebuilt, or block memos cover most of
#: the log for it, so that its folds cost almost nothing: ledgers that cost about as much as the parent's other folds
#: together (`fold_ns_per_log_event` in scripts/bench/projection_rebuild.py).
BALANCE_GROUP = frozenset({"cost", "metrics", "outcomes"})
#: The share of the log the audit group's memos must cover for the balance group to move.
_COVERED = 0.8


def rebuild_in_two(loki_dir: Path, projections: Iterable[Projection], *,
                   progress: Progress | None = None, states: bool = True) -> list[ProjectionState]:
    """Like :func:`rebuild`, with the audit group folded in a forked child when that can help.

    ``states=False``: the results of the child's group carry no state (None), which spares
    encoding, sending and decoding them (the command only prints where each projection got to)."""
    chosen = list(projections)
    # The balance group moves when the audit group costs little: absent, or taken from memos.
    cheap = not any(p.name in CHILD_GROUP for p in chosen) or _memos_cover(Path(loki_dir), chosen)
    group = CHILD_GROUP | BALANCE_GROUP if cheap else CHILD_GROUP
    child_side = [p for p in chosen if p.name in group]
    ours = [p for p in chosen if p.name not in group]
    if not child_side or not ours or (os.cpu_count() or 1) < 2 or not hasattr(os, "fork"):
        return rebuild(loki_dir, chosen, progress=progress)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: fold its group, report, and leave without running any cleanup
        os.close(read_end)
        _die_with_parent()
        os._exit(_child(loki_dir, child_side, write_end, states))
    os.close(write_end)
    try:
        mine = rebuild(loki_dir, ours, progress=progress)
    finally:
        with os.fdopen(read_end, "rb") as pipe:
            report = pipe.read()
        os.waitpid(pid, 0)
    theirs = _results(report, child_side)
    by_name = {r.name: r for r in mine + theirs}
    return [by_name[p.name] for p in chosen]


def _memos_cover(loki_dir: Path, projections: list[Projection]) -> bool:
    """Whether the audit group's block memos cover most of the log (so its rebuild is cheap)."""
    from eventlog import FileEventLog

    audit = [p for p in projections if p.name in CHILD_GROUP]
    with FileEventLog(loki_dir) as log:
        head = log.head_seq
    for projection in audit:
        blocks = read_memo(loki_dir, projection)
        if not blocks or blocks[-1].last_seq < _COVERED * head:
            return False
    return True


def _child(loki_dir: Path, projections: list[Projection], out: int, states: bool) -> int:
    try:
        results = rebuild(loki_dir, projections)
        body = {"results": [_encode(r, states) for r in results]}
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which raises it
        body = {"error": type(exc).__name__, "message": str(exc)}
    with os.fdopen(out, "wb") as pipe:
        pipe.write(json.dumps(body).encode())
    return 0


def _encode(result: ProjectionState, states: bool) -> dict:
    stopped = result.stopped
    return {
        "name": result.name, "seq": result.seq, "state": encode_state(result.state).decode() if states else None,
        "dead_letters": result.dead_letters, "notices": list(result.notices),
        "stopped": None if stopped is None else [stopped.seq, stopped.id, stopped.type, stopped.error],
    }


def _results(report: bytes, projections: list[Projection]) -> list[ProjectionState]:
    if not report:
        raise log_errors.EventLogError("the rebuild of the audit projections ended without a report")
    body = json.loads(report)
    if "error" in body:
        raise _error(body["error"], body["message"])
    types = {p.name: p.state_type for p in projections}
    return [ProjectionState(r["name"], r["seq"],
                            None if r["state"] is None else decode_state(r["state"].encode(), types[r["name"]]),
                            r["dead_letters"], None if r["stopped"] is None else DeadLetter(*r["stopped"]),
                            tuple(r["notices"]))
            for r in body["results"]]


def _error(name: str, message: str) -> Exception:
    """The child's exception as one of lokilog's own classes (EventLogError if it is not one)."""
    from .audit import errors as audit_errors

    for module in (log_errors, audit_errors):
        kind = getattr(module, name, None)
        if isinstance(kind, type) and issubclass(kind, log_errors.EventLogError):
            try:
                return kind(message)
            except TypeError:  # a class that wants more than a message
                break
    return log_errors.EventLogError(f"{name}: {message}")


def _die_with_parent() -> None:
    # Linux's PR_SET_PDEATHSIG: if the command is killed, its child must not go on writing.
    parent = os.getppid()
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:  # the parent was already gone before the signal was armed
        os._exit(1)


__all__ = ["CHILD_GROUP", "rebuild_in_two"]

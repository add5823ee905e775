"""The checkpoint catalogue: every checkpoint the log knows of, and its view `index.jsonl`.

A ledger, not run state: a rollback never rewinds it, it is one more fact in it. The view
`.loki/state/checkpoints/index.jsonl` holds one JSON line per checkpoint in log order; records
imported from Loki Mode's own index are written back exactly as Loki Mode wrote them, and any
line the state does not know (a Loki Mode writer appended it since the last import) is kept
in front, so lokilog never loses a record it did not write.
"""
from __future__ import annotations

import json
from itertools import islice
from pathlib import Path
from typing import Any

import msgspec

from datetime import datetime, timezone

from eventlog import Event, parse_timestamp
from eventlog.safeio import read_small

from .view_files import WrittenFiles

INDEX = Path("state") / "checkpoints" / "index.jsonl"
#: Pruned ids remembered (the newest; up to twice as many between trims). They only keep a line
#: of a pruned checkpoint out of the index until the next write of the view, which drops it, so
#: the ids of thousands of prunes ago are of no use and would grow the state with the log.
PRUNED_KEPT = 10_000
_encoder = msgspec.json.Encoder(order="deterministic")

State = dict[str, Any]


class CheckpointProjection:
    """Fold `checkpoint.created`, `checkpoint.rolled_back` and `checkpoint.pruned` events."""

    name = "checkpoints"
    # 2: ``changes`` counts the checkpoint events folded and ``rewrites`` those that changed or
    # removed a record (the view skips unchanged states and appends the records added since).
    version = 2
    reads = ("checkpoint",)
    state_type = dict[str, Any]
    rewindable = False

    def __init__(self, pruned_kept: int = PRUNED_KEPT) -> None:
        self.pruned_kept = pruned_kept
        self._view = _IndexView()

    def initial(self) -> State:
        return {"checkpoints": {}, "pruned": [], "latest_pre_rollback": None, "rollbacks": 0,
                "last_rollback": None, "changes": 0, "rewrites": 0}

    def apply(self, state: State, event: Event) -> State:
        if event.type != "checkpoint":
            return state
        action, payload = event.action, event.payload
        if action == "created":
            _created(state, event)
        elif action == "rolled_back":
            state["rollbacks"] += 1
            state["last_rollback"] = {
                "seq": event.seq, "timestamp": event.timestamp,
                "checkpoint_id": payload.get("checkpoint_id"),
                "pre_rollback_checkpoint": payload.get("pre_rollback_checkpoint"),
                "to_seq": payload.get("to_seq"),
            }
        elif action == "pruned":
            for checkpoint_id in payload.get("checkpoint_ids") or ():
                if state["checkpoints"].pop(checkpoint_id, None) is not None:
                    state["pruned"].append(checkpoint_id)
                    state["rewrites"] += 1
            if len(state["pruned"]) > 2 * self.pruned_kept:
                state["pruned"] = state["pruned"][-self.pruned_kept:]
        state["changes"] += 1  # an upper bound (a repeated creation changes nothing): it only costs a write
        return state

    def write_views(self, state: State, loki_dir: Path) -> None:
        self._view.write(state, Path(loki_dir) / INDEX)


class _IndexView:
    """Writes `index.jsonl`, remembering what it parsed and wrote: an unchanged catalogue costs a
    stat, the file is parsed again only when someone else wrote it, and records added to the
    same state since the last write (in seq order: a fold only moves forward, and a new key goes
    last in a dict) are encoded alone and appended to the lines already made."""

    def __init__(self) -> None:
        self._files = WrittenFiles()
        self._foreign: list[tuple[Any, str]] = []  # (id, line) of the lines the state did not know, as last read
        self._ours: list[str] = []  # the lines of the state's records, in seq order
        self._basis: tuple[State, int, int] | None = None  # (state, rewrites, records) that _ours shows

    def write(self, state: State, path: Path) -> None:
        if self._files.current(path, state, state["changes"]):
            return
        known = state["checkpoints"]
        if not self._files.unchanged(path):
            self._foreign = [(_line_id(line), line) for line in index_lines(path)]
        if self._foreign:
            gone = set(state["pruned"])
            self._foreign = [(key, line) for key, line in self._foreign if key not in known and key not in gone]
        basis = self._basis
        if basis is not None and basis[0] is state and basis[1] == state["rewrites"] and basis[2] <= len(known):
            added = list(islice(reversed(known.values()), len(known) - basis[2]))
            self._ours += [line for record in reversed(added) for line in _view_lines(record)]
        else:
            self._ours = [line for record in records(state) for line in _view_lines(record)]
        self._basis = (state, state["rewrites"], len(known))
        if not self._foreign and not self._ours and not path.exists():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        data = "".join(line + "\n" for line in [line for _, line in self._foreign] + self._ours).encode()
        self._files.write(path, data, state=state, changes=state["changes"])


def _created(state: State, event: Event) -> None:
    payload = event.payload
    checkpoint_id = payload.get("checkpoint_id")
    if not isinstance(checkpoint_id, str):
        return
    existing = state["checkpoints"].get(checkpoint_id)
    if existing is not None:
        # A repaired creation changes nothing; a second Loki Mode record for the same id (its
        # writers reused ids within a second) is kept too, so the view loses none of its lines.
        line = payload.get("line")
        if isinstance(line, str) and line not in existing.get("lines", ()):
            existing.setdefault("lines", []).append(line)
            state["rewrites"] += 1
        return
    record = {
        "id": checkpoint_id,
        "created_at": payload.get("created_at") or event.timestamp,
        "message": payload.get("message") or "",
        "log_seq": payload.get("log_seq"),
        "seq": event.seq,
        "kind": payload.get("kind") or "manual",
        "created_by": payload.get("created_by") or event.source,
    }
    for optional in ("git_ref", "files", "legacy"):
        if payload.get(optional) is not None:
            record[optional] = payload[optional]
    if isinstance(payload.get("line"), str):
        record["lines"] = [payload["line"]]
    state["checkpoints"][checkpoint_id] = record
    if record["kind"] == "pre-rollback":
        state["latest_pre_rollback"] = checkpoint_id


def _view_lines(record: dict[str, Any]) -> list[str]:
    if record.get("lines"):
        return record["lines"]  # Loki Mode's own records, byte for byte
    return [_encoder.encode(public(record)).decode()]


def public(record: dict[str, Any]) -> dict[str, Any]:
    """A record without the raw Loki Mode lines it was imported from."""
    return {k: v for k, v in record.items() if k != "lines"}


def index_lines(path: Path) -> list[str]:
    """The non-blank lines of an index.jsonl (none if it does not exist)."""
    try:
        text = read_small(path, 1 << 30, json_depth_limit=None).decode("utf-8", errors="replace")
    except FileNotFoundError:
        return []
    return [line for line in text.splitlines() if line.strip()]


def parse_index_line(line: str) -> dict[str, Any] | None:
    """One line of an index.jsonl (lokilog's or a Loki Mode writer's): its object, or None."""
    try:
        raw = json.loads(line)
    except ValueError:
        return None
    return raw if isinstance(raw, dict) else None


def _line_id(line: str) -> Any:
    raw = parse_index_line(line)
    return None if raw is None else raw.get("id") or raw.get("checkpoint_id")


def records(state: State) -> list[dict[str, Any]]:
    """The catalogue's records in log order."""
    return sorted(state["checkpoints"].values(), key=lambda r: r["seq"])


def by_time(state: State) -> list[dict[str, Any]]:
    """The records oldest first by creation time (Loki Mode's are imported after the fact, so
    log order can put an old one last); unparseable times sort first, ties by seq."""
    return sorted(state["checkpoints"].values(), key=lambda r: (_moment(r.get("created_at")), r["seq"]))


def _moment(text: Any) -> datetime:
    try:
        return parse_timestamp(text)
    except (ValueError, TypeError):
        return datetime.min.replace(tzinfo=timezone.utc)

"""The pending drop box, `.loki/events/pending/`: one event per file, written atomically.

Any writer in any language may drop an event here (write ``*.tmp``, rename to ``*.json``);
Loki Mode's own emitters do exactly this. A lock holder later moves each event into the log,
exactly once. Files written by lokilog's clients are marked as ours in their name (they end in
:data:`OWN_SUFFIX`): only those then move to ``archive/``; Loki Mode's stay where they are.
"""
from __future__ import annotations

import os
from pathlib import Path

import msgspec

from .codec import check_id
from .errors import EventDecodeError, InvalidEventError
from .events import ENVELOPE_FIELDS, Event, NewEvent
from .fsutil import create_exclusive, make_dirs
from .safeio import check_json_depth, read_regular

_decoder = msgspec.json.Decoder()


#: The end of every drop-box file name a lokilog client writes (Python, bash, TypeScript).
#: Still ``*.json`` and still starting with the timestamp, so Loki Mode's readers, which take
#: ``pending/*.json`` in name order, see lokilog's events in their place.
OWN_SUFFIX = ".lokilog.json"


def pending_file_name(timestamp: str, event_id: str) -> str:
    """Name a drop-box file as Loki Mode does, marked as ours: ``<timestamp, : as ->_<id>.lokilog.json``."""
    return f"{timestamp.replace(':', '-')}_{event_id}{OWN_SUFFIX}"


def is_own_file(name: str) -> bool:
    """True for a drop-box file a lokilog client wrote (its name ends in :data:`OWN_SUFFIX`)."""
    return name.endswith(OWN_SUFFIX)


def drop(pending_dir: Path, event: Event, durable: bool = True) -> Path:
    """Write one event (its seq ignored) into the drop box atomically; return the file."""
    make_dirs(pending_dir, durable)
    body = dict(event.to_dict())
    body.pop("seq", None)
    path = pending_dir / pending_file_name(event.timestamp, event.id)
    try:
        create_exclusive(path, msgspec.json.encode(body) + b"\n", durable=durable)
    except FileExistsError:
        pass  # the same id and timestamp is already waiting: the retry is the same event
    return path


class BadPendingFile(msgspec.Struct, frozen=True):
    """A drop-box file that is not an event: reported with why, and left where it is."""

    path: Path
    reason: str


def list_pending(pending_dir: Path) -> list[Path]:
    """Return the drop box's event files in a deterministic order (name, i.e. time then id)."""
    try:
        names = os.listdir(pending_dir)
    except FileNotFoundError:
        return []
    return [pending_dir / n for n in sorted(names) if n.endswith(".json")]


def event_file_names(directory: Path) -> list[str]:
    """The names of the event files in a drop-box directory (pending/ or archive/), sorted."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    # *.tmp (being written) and *.json.lock (Loki Mode's write locks) are not events.
    return sorted(n for n in names if n.endswith(".json"))


def read_pending(path: Path) -> NewEvent:
    """Read a drop-box file in the nested schema ``{id, type, source, timestamp, payload, version}``."""
    data, _ = read_regular(path)  # a FIFO, a link or a huge file is refused, never read
    check_json_depth(data, what=path.name)
    try:
        obj = _decoder.decode(data)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise EventDecodeError(f"{path.name}: not valid JSON: {exc}") from exc
    if not isinstance(obj, dict):
        raise EventDecodeError(f"{path.name}: an event is a JSON object, not {type(obj).__name__}")
    missing = [k for k in ("id", "type", "source", "timestamp") if k not in obj]
    if missing:
        raise EventDecodeError(f"{path.name}: missing field(s) {', '.join(missing)}")
    known = {k: v for k, v in obj.items() if k in ENVELOPE_FIELDS and k != "seq"}
    extra = {k: v for k, v in obj.items() if k not in ENVELOPE_FIELDS}
    known.setdefault("payload", {})
    try:
        draft = msgspec.convert({**known, "extra": extra}, NewEvent)
        check_id(draft.id)
    except (msgspec.ValidationError, InvalidEventError) as exc:
        raise EventDecodeError(f"{path.name}: {exc}") from exc
    return draft


_OWN_FIELDS = ["id", "type", "source", "timestamp", "version"]
_plain = msgspec.json.Encoder()


def is_own_content(data: bytes) -> bool:
    """True when ``data`` is exactly what :func:`drop` writes (lokilog's own drop-box file).

    Loki Mode's writers pretty-print with the payload before the version, so theirs never match.
    """
    try:
        check_json_depth(data)
        obj = _decoder.decode(data)
    except (msgspec.DecodeError, UnicodeDecodeError, EventDecodeError):
        return False
    return isinstance(obj, dict) and list(obj)[:5] == _OWN_FIELDS and _plain.encode(obj) + b"\n" == data

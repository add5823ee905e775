"""Writers of Loki Mode's documented formats, for tests: what bus.py, bus.ts, emit.sh and run.sh leave.

Each function writes exactly the bytes the corresponding Loki Mode writer produces (layout,
key order, indentation, timestamp spelling, file name), from the formats documented in
DESIGN.md "Loki Mode compatibility" and docs/LOKI_MODE.md.
"""
from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EMIT_SH = REPO / "tests" / "fixtures" / "loki_emit.sh"


def file_name(timestamp: str, event_id: str) -> str:
    return f"{timestamp.replace(':', '-')}_{event_id}.json"


def nested(event_id: str, type: str, source: str, timestamp: str, payload: dict) -> dict:
    return {"id": event_id, "type": type, "source": source, "timestamp": timestamp, "payload": payload, "version": "1.0"}


def bus_py_timestamp(moment: datetime) -> str:
    """bus.py: datetime.isoformat(): microseconds and +00:00, or seconds only when microsecond is 0."""
    return moment.astimezone(timezone.utc).isoformat()


def bus_ts_timestamp(moment: datetime) -> str:
    """bus.ts: Date.toISOString(): milliseconds and Z."""
    utc = moment.astimezone(timezone.utc)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def write_pending(loki: Path, event: dict, style: str = "pretty", directory: str = "pending") -> Path:
    """Write one event file as Loki Mode's writers do (pretty: indent 2; compact: one line)."""
    folder = loki / "events" / directory
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / file_name(event["timestamp"], event["id"])
    text = json.dumps(event, indent=2) if style == "pretty" else json.dumps(event, separators=(",", ":"))
    path.write_text(text + ("\n" if style != "bare" else ""))
    return path


def flat_line(timestamp: str, type: str, data) -> bytes:
    """run.sh emit_event_json / emit.sh: compact ``{"timestamp","type","data"}``."""
    return json.dumps({"timestamp": timestamp, "type": type, "data": data}, separators=(",", ":")).encode() + b"\n"


def run_sh_emit_event(timestamp: str, type: str, text: str) -> bytes:
    """run.sh emit_event: python json.dumps with default separators and a string body."""
    return json.dumps({"timestamp": timestamp, "type": type, "data": text}).encode() + b"\n"


def append_flat(loki: Path, line: bytes, name: str = "events.jsonl") -> None:
    loki.mkdir(parents=True, exist_ok=True)
    with open(loki / name, "ab") as handle:
        handle.write(line)


def dual_write(loki: Path, event: dict) -> Path:
    """emit.sh: the pending file (tmp + rename), then the same event as a flat line."""
    folder = loki / "events" / "pending"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / file_name(event["timestamp"], event["id"])
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(event, indent=2) + "\n")
    os.replace(tmp, path)
    append_flat(loki, flat_line(event["timestamp"], event["type"], event["payload"]))
    return path


def rotate(loki: Path) -> None:
    """emit.sh's rotation: an unlocked mv of events.jsonl over events.jsonl.1."""
    os.replace(loki / "events.jsonl", loki / "events.jsonl.1")


def loki_subscriber_pass(loki: Path) -> int:
    """What a Loki Mode subscriber does: read each pending file, then move it to archive/."""
    pending, archive = loki / "events" / "pending", loki / "events" / "archive"
    archive.mkdir(parents=True, exist_ok=True)
    moved = 0
    for path in sorted(pending.glob("*.json")) if pending.exists() else []:
        try:
            json.loads(path.read_text())
            path.rename(archive / path.name)
            moved += 1
        except (ValueError, OSError):
            continue
    return moved

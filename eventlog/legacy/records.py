"""Records Loki Mode keeps outside its event bus, mapped onto events. Pure: bytes in, drafts out.

Loki Mode writes cost, trust and proof records to files of their own, not as events:

| file (under `.loki/`) | becomes |
|---|---|
| `metrics/efficiency/iteration-<N>.json` (one per iteration; run.sh deletes them at every run start) | type `metric`, action `token_usage` |
| `metrics/trust-events.jsonl` | type `trust`, action = the record's `type` |
| `cost-history.jsonl` (one line per run) | type `cost`, action `run_summary` |
| `managed/events.ndjson` | type `managed`, action = the record's `type` |
| `proofs/<run_id>/proof.json` | type `proof`, action `recorded`: its metadata only |

The payload is the record as written, plus `action` (unless it has one). Every id is derived from
the content, so reading a file again (or a rewritten copy of it) never stores an event twice:
``lm-eff-<digest of the file>``, ``lm-proof-<digest>``, and for lines ``lm-<kind>-<digest of the
line>-<n>``, n counting identical lines before it in the same file (two equal lines are two events).
"""
from __future__ import annotations

import hashlib
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any


from ..errors import EventDecodeError
from ..events import NewEvent, format_timestamp, parse_timestamp
from .parse import decode_object
from ..loki_record_files import EFFICIENCY_DIR, LINE_FILES, PROOFS_DIR, SOURCE, RecordFile, record_files

#: Token fields of an efficiency record; with all of them zero and no cost_usd it is unmeasured.
TOKEN_FIELDS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_creation_tokens")
#: Proof sections that are the proof itself, not its metadata: summarised by presence only.
PROOF_BODY = ("facts", "assessments", "honesty")

def drafts_of(record: RecordFile, data: bytes, fallback: str) -> tuple[list[NewEvent], list[str]]:
    """Map one file's bytes to drafts; also return a problem per record that is not one.

    ``fallback`` is the timestamp of a record that has no usable time of its own.
    """
    if record.kind == "efficiency":
        return [efficiency_draft(record.rel, data, fallback)], []
    if record.kind == "proof":
        return [proof_draft(record.rel, data, fallback)], []
    for rel, kind, type_, source, action in LINE_FILES:
        if kind == record.kind:
            return line_drafts(rel, data, kind, type_, source, action, fallback)
    raise EventDecodeError(f"unknown record kind {record.kind!r}")


def efficiency_draft(rel: Path, data: bytes, fallback: str) -> NewEvent:
    """`iteration-<N>.json` -> one `metric.token_usage` event, once per file content.

    Loki Mode 9.48's cost rule is kept as written: a `cost_usd` key (even 0) is the reported
    cost; without it the cost is unknown (priced from tokens later, where the model has a
    price). A record with no cost_usd and every token field zero measured nothing:
    ``measured: false`` (its cost is unknown, never $0).
    """
    record = decode_object(data, f"{rel.name}: a record")
    measured = "cost_usd" in record or any(_nonzero(record.get(f)) for f in TOKEN_FIELDS)
    payload = {"action": "token_usage", **record, "measured": measured, "record_file": str(rel)}
    return NewEvent(id=f"lm-eff-{_digest(data)}", type="metric", source=SOURCE,
                    timestamp=when(record.get("timestamp"), fallback), payload=payload)


def proof_draft(rel: Path, data: bytes, fallback: str) -> NewEvent:
    """`proofs/<run_id>/proof.json` -> one `proof` event with the proof's metadata (not its body)."""
    proof = decode_object(data, f"{rel.name}: a record")
    meta = {k: v for k, v in proof.items() if k not in PROOF_BODY}
    sections = sorted(k for k in PROOF_BODY if k in proof)
    payload = {"action": "recorded", **meta, "sections": sections, "record_file": str(rel),
               "sha256": hashlib.sha256(data).hexdigest()}
    return NewEvent(id=f"lm-proof-{_digest(data)}", type="proof", source=SOURCE,
                    timestamp=when(proof.get("generated_at"), fallback), payload=payload)


def line_drafts(rel: Path, data: bytes, kind: str, type_: str, source: str, action: str | None,
                fallback: str) -> tuple[list[NewEvent], list[str]]:
    """An append-only JSONL file -> one event per complete line (a last line without ``\\n`` waits)."""
    drafts, problems = [], []
    seen: dict[bytes, int] = {}
    end = data.rfind(b"\n") + 1
    offset = 0
    for raw in data[:end].split(b"\n")[:-1]:
        line = raw.rstrip(b"\r")
        at, offset = offset, offset + len(raw) + 1
        if not line.strip():
            continue
        n = seen.get(line, 0)
        seen[line] = n + 1
        try:
            record = decode_object(line, f"{rel.name}: a record")
        except EventDecodeError as exc:
            problems.append(f"line at byte {at}: {exc}")
            continue
        named = record.get("type")
        payload = {"action": action or (named if isinstance(named, str) and named else "event"), **record}
        moment = when(record.get("ts", record.get("timestamp")), fallback)
        drafts.append(NewEvent(id=f"lm-{kind}-{_digest(line)}-{n}", type=type_, source=source,
                               timestamp=moment, payload=payload))
    return drafts, problems


def when(value: Any, fallback: str) -> str:
    """A record's time as an event timestamp: RFC 3339 as written, epoch seconds converted."""
    if isinstance(value, str):
        try:
            parse_timestamp(value)
            return value
        except ValueError:
            return fallback
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return format_timestamp(datetime.fromtimestamp(value, timezone.utc))
        except (OverflowError, OSError, ValueError):
            return fallback
    return fallback


def mtime_timestamp(st: os.stat_result) -> str:
    return format_timestamp(datetime.fromtimestamp(st.st_mtime_ns / 1e9, timezone.utc))


def _nonzero(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value != 0


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:32]



__all__ = ["RecordFile", "drafts_of", "efficiency_draft", "line_drafts", "mtime_timestamp", "proof_draft",
           "record_files", "when"]

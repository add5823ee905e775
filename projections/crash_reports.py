"""Crash reports: every `error` event, scrubbed to its whitelist-only payload, deduplicated by fingerprint.

A ledger (a rollback never rewinds it). The view is one file per fingerprint,
`.loki/crash/<fingerprint>-<first seen, YYYYMMDDTHHMMSSZ>.json`: the payload that `lokilog crash
submit` would send (exactly, nothing more), and beside it the local facts that never leave the
machine (occurrences, first and last seen, the seqs of the first and last event).

``apply`` scrubs with :func:`eventlog.redaction.scrub.build_payload` (pure); an event the scrubber cannot
handle is counted in ``skipped`` and yields no report: fail closed.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import msgspec

from eventlog import Event
from eventlog.redaction.scrub import build_payload, captured_at

from .view_files import WrittenFiles

CRASH_DIR = Path("crash")
_REPORT_NAME = re.compile(r"[0-9a-f]{64}-[0-9]{8}T[0-9]{6}Z\.json")

State = dict[str, Any]


class CrashReportsProjection:
    """The ``crash_reports`` projection of `error` events."""

    name = "crash_reports"
    # 2: ``changes`` counts the error events folded (the views skip unchanged states).
    version = 2
    reads = ("error",)
    state_type = dict[str, Any]
    rewindable = False

    def __init__(self) -> None:
        self._files = WrittenFiles()
        self._written: tuple[State, int, tuple[Path, ...]] | None = None

    def initial(self) -> State:
        return {"reports": {}, "skipped": 0, "changes": 0}

    def apply(self, state: State, event: Event) -> State:
        if event.type != "error":
            return state
        try:
            payload = _scrubbed(event.payload, event.timestamp)
        except Exception:  # noqa: BLE001 - fail closed: an unscrubbable event makes no report
            state["skipped"] += 1
            state["changes"] += 1
            return state
        key = payload["fingerprint"]
        report = state["reports"].get(key)
        if report is None:
            state["reports"][key] = {
                "id": report_id(key, payload["captured_at"] or _compact_time(event.timestamp)),
                "scrubbed": True,
                "occurrences": 1,
                "first_seen": payload["captured_at"],
                "last_seen": payload["captured_at"],
                "first_seq": event.seq,
                "last_seq": event.seq,
                "payload": payload,
            }
        else:
            report["occurrences"] += 1
            report["last_seen"] = payload["captured_at"] or report["last_seen"]
            report["last_seq"] = event.seq
        state["changes"] += 1
        return state

    def write_views(self, state: State, loki_dir: Path) -> None:
        folder = Path(loki_dir) / CRASH_DIR
        last = self._written
        if (last is not None and last[0] is state and last[1] == state["changes"]
                and all(self._files.unchanged(path) for path in last[2])):
            return
        wanted = {f"{r['id']}.json": _encode(r) for r in state["reports"].values()}
        if not wanted and not folder.is_dir():
            return
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in wanted.items():
            # Not fsynced, like the other views: rebuilt from the log, rewritten at every engine start.
            self._files.write(folder / name, data, durable=False, read_first=True)
        self._written = (state, state["changes"], tuple(folder / name for name in wanted))
        for name in os.listdir(folder):
            # Only files this view owns are removed (a rebuild of a log that lost events).
            if _REPORT_NAME.fullmatch(name) and name not in wanted:
                (folder / name).unlink(missing_ok=True)


#: Scrubbed payloads remembered by raw payload: a run repeats the same few errors, and scrubbing
#: one (every secret detector over every string) costs a thousand times the lookup.
_SCRUBBED: dict[bytes, bytes] = {}
_SCRUBBED_LIMIT = 512
_key_encoder = msgspec.json.Encoder(order="deterministic")


def _scrubbed(raw: dict[str, Any], timestamp: str) -> dict[str, Any]:
    """``build_payload(raw, timestamp)``, from the memo when the same payload was scrubbed before.

    Only ``captured_at`` depends on the timestamp; every other field is a function of ``raw``.
    """
    try:
        key = _key_encoder.encode(raw)
    except (TypeError, ValueError, OverflowError, UnicodeEncodeError):
        return build_payload(raw, timestamp)
    known = _SCRUBBED.get(key)
    if known is None:
        payload = build_payload(raw, timestamp)
        if len(_SCRUBBED) >= _SCRUBBED_LIMIT:
            del _SCRUBBED[next(iter(_SCRUBBED))]
        _SCRUBBED[key] = msgspec.json.encode(payload)
        return payload
    payload = msgspec.json.decode(known)  # a fresh copy: states never share nested values
    payload["captured_at"] = captured_at(timestamp)
    return payload


def report_id(fingerprint: str, seen: str) -> str:
    """``<fingerprint>-<YYYYMMDDTHHMMSSZ>``: also the report's file name without ``.json``."""
    return f"{fingerprint}-{seen.replace('-', '').replace(':', '')}"


def _compact_time(timestamp: str) -> str:
    digits = re.sub(r"[^0-9]", "", timestamp)[:14].ljust(14, "0")
    return f"{digits[:4]}-{digits[4:6]}-{digits[6:8]}T{digits[8:10]}:{digits[10:12]}:{digits[12:14]}Z"


def _encode(report: dict[str, Any]) -> bytes:
    # Sorted keys: a state resumed from a snapshot must write the same bytes as a fresh fold.
    return msgspec.json.format(msgspec.json.encode(report, order="deterministic"), indent=2) + b"\n"


def reports(state: State) -> list[dict[str, Any]]:
    """The reports, most recently seen first."""
    return sorted(state["reports"].values(), key=lambda r: (r["last_seq"], r["id"]), reverse=True)


__all__ = ["CRASH_DIR", "CrashReportsProjection", "report_id", "reports"]

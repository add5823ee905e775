"""Verifying Loki Mode's own audit chain, `.loki/audit/audit.jsonl`, in its own format. Reads only.

Loki Mode's JavaScript audit log (`src/audit/log.js`) writes one JSON object per line:
``{seq (from 0), timestamp, who, what, where, why, metadata, previousHash, hash}``, where
``previousHash`` is ``"GENESIS"`` for the first entry and each ``hash`` is
``"sha256:" + hex(sha256(JSON.stringify({seq, timestamp, who, what, where, why, metadata,
previousHash})))`` (older versions stored the bare hex digest; both are accepted).

Cross-links are ordinary entries of that chain: ``what: "audit_crosslink"`` pins the dashboard
chain's tip, and its metadata must be self-consistent: ``agentTipBeforeLink`` is the entry's own
``previousHash`` and ``unifiedRoot`` is ``hex(sha256("loki-unified-audit-v1\\n" + agentTip + "\\n"
+ dashboardTip))``. ``audit_manifest_link`` entries are counted. Witness records beside it
(`witness.jsonl`, ``type: "loki-unified-audit-witness"``) must parse, never count backwards, carry a
consistent ``unifiedRoot``, and name an agent tip that is the chain's hash after that many entries.
The dashboard's own chain (in the home directory) is not read.
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .files import loki_mode_audit_dir

GENESIS = "GENESIS"
CROSSLINK = "audit_crosslink"
MANIFEST_LINK = "audit_manifest_link"
WITNESS_TYPE = "loki-unified-audit-witness"
_HASHED = ("seq", "timestamp", "who", "what", "where", "why", "metadata", "previousHash")


@dataclass
class LokiChainResult:
    """The verdict, in the reference's `{valid, entries, brokenAt, error}` shape plus details."""

    path: str
    present: bool
    valid: bool = True
    entries: int = 0
    brokenAt: int | None = None  # 0-based line index of the first broken entry
    brokenSeq: int | None = None
    error: str | None = None
    head: str = GENESIS
    crosslinks: int = 0
    manifestLinks: int = 0
    witness: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def verify_loki_chain(loki_dir: Path) -> LokiChainResult:
    """Verify `.loki/audit/audit.jsonl` (and `witness.jsonl` beside it); never writes either."""
    directory = loki_mode_audit_dir(loki_dir)
    path = directory / "audit.jsonl"
    result = LokiChainResult(path=str(path), present=path.is_file())
    hashes = [GENESIS]
    if result.present:
        with open(path, "rb") as handle:
            data = handle.read()
        _verify_lines(data, result, hashes)
    result.witness = verify_witness(directory / "witness.jsonl", hashes)
    if result.valid and not result.witness.get("valid", True):
        result.valid = False
        result.error = f"witness.jsonl: {result.witness.get('error')}"
    return result


def _verify_lines(data: bytes, result: LokiChainResult, hashes: list[str]) -> None:
    previous = GENESIS
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    for index, raw in enumerate(lines):
        problem, entry = _check_entry(raw, index, previous)
        if problem is not None:
            result.valid, result.brokenAt, result.error = False, index, problem
            seq = entry.get("seq") if isinstance(entry, dict) else None
            result.brokenSeq = seq if isinstance(seq, int) else None
            return
        what = entry.get("what")
        result.crosslinks += what == CROSSLINK
        result.manifestLinks += what == MANIFEST_LINK
        previous = entry["hash"]
        hashes.append(previous)
        result.entries += 1
        result.head = previous


def _check_entry(raw: bytes, index: int, previous: str) -> tuple[str | None, Any]:
    if not raw.strip():
        return f"line {index} is empty", None
    try:
        entry = json.loads(raw)
    except ValueError:
        return f"line {index} is not valid JSON (torn or edited)", None
    if not isinstance(entry, dict) or any(k not in entry for k in ("hash", "previousHash")):
        return f"line {index} is not an audit entry", entry
    if entry.get("seq") != index:
        return f"entry {index} has seq {entry.get('seq')!r}, expected {index} (an entry removed or inserted)", entry
    if entry["previousHash"] != previous:
        return f"hash chain broken at entry {index}: previousHash does not match the entry before", entry
    if not _hash_matches(raw, entry):
        return f"hash mismatch at entry {index}: the entry has been tampered with", entry
    if entry.get("what") == CROSSLINK:
        problem = _crosslink_problem(entry)
        if problem:
            return f"cross-link at entry {index}: {problem}", entry
    return None, entry


def _hash_matches(raw: bytes, entry: dict[str, Any]) -> bool:
    stored = entry["hash"]
    if not isinstance(stored, str):
        return False
    body = _js_stringify({k: entry.get(k) for k in _HASHED})
    for candidate in (body.encode("utf-8"), _body_as_stored(raw)):
        if candidate is None:
            continue
        digest = hashlib.sha256(candidate).hexdigest()
        if stored in (f"sha256:{digest}", digest):
            return True
    return False


def _body_as_stored(raw: bytes) -> bytes | None:
    # The entry's own bytes without its last member: exactly what JSON.stringify hashed when
    # the line was written by JSON.stringify in the same field order (numbers as written).
    cut = raw.rfind(b',"hash":')
    return raw[:cut] + b"}" if cut > 0 and raw.rstrip().endswith(b"}") else None


def _crosslink_problem(entry: dict[str, Any]) -> str | None:
    meta = entry.get("metadata")
    if not isinstance(meta, dict):
        return "no metadata"
    tip = meta.get("agentTipBeforeLink")
    if tip != entry["previousHash"]:
        return "agentTipBeforeLink is not the chain's tip before the link"
    expected = unified_root(tip or "", meta.get("dashboardTipHash") or "0" * 64)
    if meta.get("unifiedRoot") != expected:
        return "unifiedRoot does not bind the two tips"
    return None


def unified_root(agent_tip: str, dashboard_tip: str) -> str:
    """The root binding both chains' tips, as Loki Mode's cross-link computes it."""
    return hashlib.sha256(f"loki-unified-audit-v1\n{agent_tip}\n{dashboard_tip}".encode()).hexdigest()


def verify_witness(path: Path, hashes: list[str]) -> dict[str, Any]:
    """Check witness.jsonl against the chain (``hashes[n]`` is the tip after n entries)."""
    out: dict[str, Any] = {"path": str(path), "present": path.is_file(), "valid": True, "witnesses": 0,
                           "brokenAt": None, "error": None}
    if not out["present"]:
        return out
    with open(path, "rb") as handle:
        lines = [line for line in handle.read().split(b"\n") if line.strip()]
    before = (-1, -1)
    for index, raw in enumerate(lines):
        problem, counts = _witness_problem(raw, before, hashes)
        if problem:
            out.update(valid=False, brokenAt=index, error=f"witness line {index}: {problem}")
            return out
        before = counts
        out["witnesses"] += 1
    return out


def _witness_problem(raw: bytes, before: tuple[int, int], hashes: list[str]) -> tuple[str | None, tuple[int, int]]:
    try:
        record = json.loads(raw)
    except ValueError:
        return "not valid JSON", before
    if not isinstance(record, dict) or record.get("type") != WITNESS_TYPE:
        return "not a witness record", before
    agent = record.get("agentEntries") if isinstance(record.get("agentEntries"), int) else 0
    dashboard = record.get("dashboardEntries") if isinstance(record.get("dashboardEntries"), int) else 0
    if agent < before[0] or dashboard < before[1]:
        return "entry counts went backwards (the file was rewritten)", before
    tip = record.get("agentTipHash")
    if record.get("unifiedRoot") != unified_root(str(tip), str(record.get("dashboardTipHash") or "0" * 64)):
        return "unifiedRoot does not bind the two tips", before
    if agent < len(hashes) and hashes[agent] != tip:
        return f"agentTipHash is not the chain's hash after {agent} entries", before
    return None, (agent, dashboard)


def _js_stringify(value: Any) -> str:
    """JSON.stringify without spaces: key order as written, non-ASCII kept, JS number spelling."""
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k, ensure_ascii=False)}:{_js_stringify(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_js_stringify(v) for v in value) + "]"
    if isinstance(value, float):
        return _js_number(value)
    return json.dumps(value, ensure_ascii=False)


def _js_number(value: float) -> str:
    if not math.isfinite(value):
        return "null"
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    text = repr(value)
    if "e" in text:
        mantissa, exponent = text.split("e")
        sign = "-" if exponent.startswith("-") else "+"
        text = f"{mantissa}e{sign}{exponent.lstrip('+-').lstrip('0') or '0'}"
    return text


__all__ = ["LokiChainResult", "unified_root", "verify_loki_chain", "verify_witness"]

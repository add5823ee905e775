"""Anchoring the audit chain's head at external witnesses, and checking the chain against them.

`anchor` brings the chain up to the log's head, publishes ``{seq, hash, entries}`` to each
witness and records the witness's answer as an `audit.anchored` event (a failure as
`audit.anchor_failed`). `check` compares the chain with every anchor it can find: the receipts
in the log and the anchors each witness gives back. A chain recomputed end to end after an
edit is internally consistent, and even consistent with a rewritten log, but its hash at an
anchored seq is not the one the witness was given; a rewrite that also dropped the receipts
from the log is still caught by the witness's own copy.
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from eventlog import EventFilter, FileEventLog, now_timestamp

from .witness import FORMAT, Witness, WitnessError, parse_witness, project_id, publish, read_back

WITNESS_ENV = "LOKI_AUDIT_WITNESS"
_AUDIT = EventFilter.build(types=["audit"])


def configured(loki_dir: Path, given: list[str] | None = None, env: dict[str, str] | None = None) -> list[Witness]:
    """The witnesses named on the command line, else in $LOKI_AUDIT_WITNESS (comma-separated)."""
    env = os.environ if env is None else env
    texts = list(given or []) or [t for t in env.get(WITNESS_ENV, "").split(",") if t.strip()]
    return [parse_witness(t, loki_dir) for t in texts]


def anchor(loki_dir: Path, witnesses: list[Witness]) -> list[dict[str, Any]]:
    """Publish the chain's head to every witness; return the recorded payloads (failures included)."""
    from projections.audit import AuditDisabledError, AuditProjection, AuditSettings
    from projections.audit.errors import AuditError
    from projections.audit.trail import chain_head
    from projections.engine import catch_up

    settings = AuditSettings.from_env()
    if settings.disabled:
        raise AuditDisabledError("the audit trail is disabled (LOKI_AUDIT_DISABLED=true): there is no chain to anchor")
    catch_up(loki_dir, AuditProjection(settings))
    point = chain_head(loki_dir)
    if point.entries == 0:
        raise AuditError("the audit chain is empty: nothing to anchor yet (`lokilog audit sync` after some events)")
    head = {"format": FORMAT, "project": project_id(loki_dir), "seq": point.seq, "hash": point.hash,
            "entries": point.entries, "anchored_at": now_timestamp()}
    recorded = []
    with FileEventLog(loki_dir) as log:
        for witness in witnesses:
            base = {"witness": witness.name, "kind": witness.kind, **head}
            try:
                payload = {"action": "anchored", **base, "receipt": publish(witness, head)}
            except WitnessError as exc:
                payload = {"action": "anchor_failed", **base, "error": str(exc)}
            log.append("audit", "cli", payload)
            recorded.append(payload)
    return recorded


@dataclass
class WitnessCheck:
    """What `audit verify --witness` found."""

    valid: bool = True
    receipts: int = 0
    witnesses: dict[str, int | None] = field(default_factory=dict)  # name -> anchors read back (None: not served)
    problems: list[str] = field(default_factory=list)

    def fail(self, text: str) -> None:
        self.valid = False
        self.problems.append(text)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check(loki_dir: Path, extra: list[Witness] = ()) -> WitnessCheck:
    """Compare the chain with every recorded receipt and with every witness's own anchors."""
    from projections.audit.trail import chain_head, read_entries

    result = WitnessCheck()
    with FileEventLog(loki_dir) as log:
        receipts = [e.payload for e in log.read(filter=_AUDIT) if e.payload.get("action") == "anchored"]
    result.receipts = len(receipts)
    witnesses = {w.name: w for w in extra}
    for receipt in receipts:
        if isinstance(receipt.get("witness"), str) and receipt["witness"] not in witnesses:
            try:
                witnesses[receipt["witness"]] = parse_witness(receipt["witness"], loki_dir)
            except WitnessError as exc:
                result.fail(f"receipt names a witness that cannot be read: {exc}")
    projects = {r.get("project") for r in receipts if isinstance(r.get("project"), str)} | {project_id(loki_dir)}
    held = _read_witnesses(witnesses, projects, result)
    seqs = {a.get("seq") for a in receipts + [a for anchors in held.values() for a in anchors]}
    chain = {entry.seq: entry.hash for entry in read_entries(loki_dir) if entry.seq in seqs}
    head = chain_head(loki_dir)
    for receipt in receipts:
        _compare(receipt, chain, head.seq, f"receipt from {receipt.get('witness')}", result)
    for name, anchors in held.items():
        given = {(r.get("seq"), r.get("hash")) for r in receipts if r.get("witness") == name}
        for item in anchors:
            _compare(item, chain, head.seq, f"anchor held by {name}", result)
            if (item.get("seq"), item.get("hash")) not in given:
                result.fail(f"{name} holds an anchor (seq {item.get('seq')}) with no receipt in the log: "
                            "the log was rewritten or its receipt removed")
        for seq, hash_ in sorted(given - {(a.get("seq"), a.get("hash")) for a in anchors}, key=str):
            result.fail(f"the log has a receipt from {name} for seq {seq} that the witness does not hold")
    return result


def _read_witnesses(witnesses: dict[str, Witness], projects: set, result: WitnessCheck) -> dict[str, list]:
    held = {}
    for name, witness in witnesses.items():
        try:
            answers = [read_back(witness, project) for project in sorted(projects)]
        except WitnessError as exc:
            result.fail(f"cannot read witness: {exc}")  # fail closed: integrity unproven is not integrity
            continue
        if any(a is None for a in answers):  # an HTTP witness that does not serve its anchors
            result.witnesses[name] = None
            continue
        held[name] = [a for found in answers for a in found]
        result.witnesses[name] = len(held[name])
    return held


def _compare(anchor: dict[str, Any], chain: dict[int, str], head_seq: int, what: str, result: WitnessCheck) -> None:
    seq, expected = anchor.get("seq"), anchor.get("hash")
    if not isinstance(seq, int) or not isinstance(expected, str):
        result.fail(f"{what}: not an anchor (seq {seq!r}, hash {expected!r})")
    elif seq > head_seq:
        result.fail(f"{what}: seq {seq} is past the chain's head (seq {head_seq}): the chain was truncated")
    elif seq not in chain:
        result.fail(f"{what}: the chain has no entry for seq {seq}: it was rewritten")
    elif chain[seq] != expected:
        result.fail(f"{what}: the chain's hash at seq {seq} is {chain[seq]}, the witness was given {expected}: "
                    "the chain was rewritten")

"""Compliance reports (SOC 2, ISO 27001, GDPR): evidence drawn from the chain, mapped to controls.

Pure: it takes entries and a verify result. A report lists what the chain shows and says
plainly which evidence is missing; it is never an attestation of compliance.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

from eventlog import InvalidEventError

from .entry import AuditEntry
from .verify import VerifyResult

#: Evidence categories: an entry counts when its ``what`` starts with one of the prefixes.
CATEGORIES: dict[str, tuple[str, tuple[str, ...]]] = {
    "access": ("access events (session, agent, user, command, auth, approval, policy)",
               ("session.", "agent.", "user.", "command.", "auth.", "approval.", "policy.")),
    "change": ("change events (task, checkpoint, file, git, deploy, rollback, state)",
               ("task.", "checkpoint.", "file.", "git.", "deploy.", "rollback.", "state.")),
    "monitoring": ("monitoring events (metric, quality gate, error, cost, alert)",
                   ("metric.", "quality.", "error.", "cost.", "alert.")),
    "data": ("data handling events (residency, privacy, data, scrub, retention)",
             ("residency.", "privacy.", "data.", "scrub.", "retention.")),
}

#: Controls each framework names, and the evidence category that speaks to each.
FRAMEWORKS: dict[str, tuple[str, list[tuple[str, str, str]]]] = {
    "soc2": ("SOC 2 (Trust Services Criteria)", [
        ("CC6.1", "Logical access: actors are identified", "access"),
        ("CC7.2", "System monitoring: anomalies and failures are detected", "monitoring"),
        ("CC8.1", "Change management: changes are authorised, tracked and reversible", "change"),
        ("C1.1", "Confidentiality: data handling is controlled", "data"),
        ("CC7.3", "Audit trail integrity: records are complete and unaltered", "integrity"),
    ]),
    "iso27001": ("ISO/IEC 27001:2022 Annex A", [
        ("A.5.15", "Access control", "access"),
        ("A.8.15", "Logging", "integrity"),
        ("A.8.16", "Monitoring activities", "monitoring"),
        ("A.8.32", "Change management", "change"),
        ("A.5.34", "Privacy and protection of PII", "data"),
    ]),
    "gdpr": ("GDPR", [
        ("Art. 30", "Records of processing activities", "access"),
        ("Art. 32", "Security of processing: integrity of records", "integrity"),
        ("Art. 5(1)(f)", "Integrity and confidentiality; monitoring of processing", "monitoring"),
        ("Art. 44", "Transfers: where data is processed (data residency)", "data"),
        ("Art. 25", "Data protection by design: changes are tracked", "change"),
    ]),
}


@dataclass
class Evidence:
    category: str
    description: str
    entries: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    examples: list[str] = field(default_factory=list)
    actors: list[str] = field(default_factory=list)


@dataclass
class Control:
    id: str
    title: str
    status: str  # "evidence" or "missing"
    detail: str


@dataclass
class Report:
    framework: str
    title: str
    entries: int
    integrity: dict
    controls: list[Control]
    missing: list[str]
    evidence: dict[str, Evidence]
    disclaimer: str = ("This report lists evidence found in the audit chain. It is not an attestation "
                       "of compliance; controls outside this system (people, policies, infrastructure) "
                       "are not assessed.")

    def to_dict(self) -> dict:
        return asdict(self)


def gather(entries: Iterable[AuditEntry]) -> tuple[dict[str, Evidence], int, int]:
    """Sort entries into evidence categories; return them, the entry count and how many name no actor."""
    evidence = {name: Evidence(name, text) for name, (text, _) in CATEGORIES.items()}
    actors: dict[str, set[str]] = {name: set() for name in CATEGORIES}
    total = anonymous = 0
    for entry in entries:
        total += 1
        anonymous += entry.who == entry.metadata.get("source")
        what = entry.what + "."
        for name, (_, prefixes) in CATEGORIES.items():
            if what.startswith(prefixes):
                _count(evidence[name], entry)
                actors[name].add(entry.who)
    for name, found in actors.items():
        evidence[name].actors = sorted(found)[:20]
    return evidence, total, anonymous


def _count(evidence: Evidence, entry: AuditEntry) -> None:
    evidence.entries += 1
    evidence.first_seq = entry.seq if evidence.first_seq is None else evidence.first_seq
    evidence.last_seq = entry.seq
    if len(evidence.examples) < 3:
        evidence.examples.append(f"seq {entry.seq}: {entry.who} {entry.what}" + (f" {entry.where}" if entry.where else ""))


def build_report(framework: str, entries: Iterable[AuditEntry], verified: VerifyResult) -> Report:
    """Build a framework's report from the chain's entries and its verification."""
    if framework not in FRAMEWORKS:
        raise InvalidEventError(f"unknown framework {framework!r}; choose one of {', '.join(FRAMEWORKS)}")
    title, controls = FRAMEWORKS[framework]
    evidence, total, anonymous = gather(entries)
    integrity = {"valid": verified.valid, "entries": verified.entries, "brokenAt": verified.brokenAt,
                 "error": verified.error, "head": asdict(verified.head) if verified.head else None,
                 "checkedLog": verified.checkedLog}
    judged = [_judge(cid, text, category, evidence, verified) for cid, text, category in controls]
    missing = [f"{c.id} {c.title}: {c.detail}" for c in judged if c.status == "missing"]
    if anonymous:
        missing.append(f"Actor identity: {anonymous} of {total} entries name only the emitting source "
                       "(runner, cli, ...), not a person or agent: emit payload.agent_id or payload.user")
    return Report(framework, title, total, integrity, judged, missing, evidence)


def _judge(cid: str, title: str, category: str, evidence: dict[str, Evidence], verified: VerifyResult) -> Control:
    if category == "integrity":
        if not verified.valid:
            return Control(cid, title, "missing", f"the chain is BROKEN at seq {verified.brokenAt}: {verified.error}")
        if not verified.entries:
            return Control(cid, title, "missing", "the audit chain is empty (run `lokilog audit sync`)")
        scope = "recomputed and compared with the log" if verified.checkedLog else "recomputed (log not compared)"
        return Control(cid, title, "evidence", f"{verified.entries} entries, hash chain {scope}, intact")
    found = evidence[category]
    if not found.entries:
        return Control(cid, title, "missing", f"no {found.description} in the chain")
    return Control(cid, title, "evidence", f"{found.entries} entries (seq {found.first_seq}-{found.last_seq}), "
                                           f"actors: {', '.join(found.actors) or 'none'}")


def render_markdown(report: Report) -> str:
    """Render a report as Markdown for people."""
    state = "intact" if report.integrity["valid"] else f"BROKEN at seq {report.integrity['brokenAt']}"
    lines = [f"# {report.title}: audit evidence", "", f"> {report.disclaimer}", "",
             f"- Entries in the chain: {report.entries}", f"- Chain integrity: {state}", "",
             "## Controls", "", "| control | title | status | detail |", "|---|---|---|---|"]
    lines += [f"| {c.id} | {c.title} | {c.status} | {c.detail} |" for c in report.controls]
    lines += ["", "## Missing evidence", ""]
    lines += [f"- {m}" for m in report.missing] or ["- none of the controls above lacks evidence in the chain"]
    lines += ["", "## Evidence by category", ""]
    for ev in report.evidence.values():
        lines.append(f"- **{ev.category}** ({ev.description}): {ev.entries} entries"
                     + (f"; e.g. {'; '.join(ev.examples)}" if ev.examples else ""))
    return "\n".join(lines) + "\n"

"""`lokilog audit ...`: the hash-chained audit trail (sync, verify, head, query, report, residency, forward;
the Merkle proofs and signed heads are in audit_proofs_cli)."""
from __future__ import annotations

import re

import typer

from .audit_group import audit_app
from .context import loki_dir
from .errors import bad_option


def register(app: typer.Typer) -> None:
    from .demo_cli import add_section

    from . import audit_anchor_cli  # noqa: F401  (adds anchor)
    from . import audit_proofs_cli  # noqa: F401  (adds sth, prove, consistency, check-proof)

    app.add_typer(audit_app, name="audit")
    add_section("Audit trail (lokilog audit)", _demo)


def _demo(root) -> str:
    """Sync the chain, show its head and verification, then tamper with a copy and show the catch."""
    import shutil
    import tempfile
    from pathlib import Path

    from projections.audit import AuditProjection, AuditSettings
    from projections.audit.files import audit_dir
    from projections.audit.trail import chain_head, verify_trail
    from projections.engine import catch_up

    settings = AuditSettings()
    catch_up(root, AuditProjection(settings))
    point, result = chain_head(root), verify_trail(root, settings)
    lines = [f"chain: {point.entries} entries in {audit_dir(root)}", f"head:  seq {point.seq} {point.hash}",
             f"verify: valid={result.valid} entries={result.entries} (hashes recomputed, every entry compared with its event)"]
    with tempfile.TemporaryDirectory(prefix="lokilog-audit-demo-") as scratch:
        copy = Path(scratch) / ".loki"
        shutil.copytree(root, copy, ignore=shutil.ignore_patterns("*.lock"))
        active = audit_dir(copy) / "audit.jsonl"
        entries = active.read_bytes().splitlines(keepends=True)
        entries[4] = entries[4].replace(b'"who":"', b'"who":"mallory-', 1)
        active.write_bytes(b"".join(entries))
        broken = verify_trail(copy, settings)
    lines.append(f"after editing entry 5's `who` in a copy: valid={broken.valid} brokenAt={broken.brokenAt}: {broken.error}")
    lines.append(f"anchor it elsewhere:  lokilog audit head   then later:  lokilog audit verify --against {point.hash[:19]}...")
    return "\n".join(lines)


@audit_app.command()
def sync(ctx: typer.Context, json: bool = typer.Option(False, "--json", help="Print the head as JSON.")) -> None:
    """Append an entry for every audited event not yet in the chain (under the audit lock)."""
    from projections.audit import AuditProjection, AuditSettings
    from projections.engine import catch_up

    settings = AuditSettings.from_env()
    if settings.disabled:
        typer.echo("audit trail disabled (LOKI_AUDIT_DISABLED=true): nothing written")
        return
    catch_up(loki_dir(ctx), AuditProjection(settings))
    head(ctx, json)


@audit_app.command()
def verify(
    ctx: typer.Context,
    json: bool = typer.Option(False, "--json", help="Print {valid, entries, brokenAt, error, ...} as JSON."),
    against: str | None = typer.Option(None, "--against", metavar="HEAD_HASH",
                                          help="A head hash recorded earlier (`audit head`) that must still be in the chain."),
    chain_only: bool = typer.Option(False, "--chain-only", help="Check hashes and links only, not the log."),
    legacy: bool = typer.Option(False, "--legacy", help="Verify Loki Mode's own chain (.loki/audit/audit.jsonl, "
                                "its cross-links and witness.jsonl) in its own format instead; reads only."),
    witness: bool = typer.Option(False, "--witness", help="Also check the chain against every `audit anchor` receipt "
                                 "and the anchors each witness holds."),
) -> None:
    """Recompute every hash and link across all files and compare each entry with its log event.

    The Merkle node store (.loki/audit/merkle/), when there is one, is recomputed too and its
    leaves compared with the chain's entries. Exit code 0 when intact, 1 when broken (the first
    broken seq is named)."""
    from projections.audit.merkle.check import verify_tree
    from projections.audit.trail import verify_trail

    from .output import echo_json
    from .progress import progress_bar

    if legacy:
        _verify_loki_mode_chain(ctx, json)
        return
    if against is not None:
        against = _head_hash(ctx, against)
    bar = progress_bar("audit verify", json=json)
    try:
        result = verify_trail(loki_dir(ctx), against=against, with_log=not chain_only, progress=bar)
    finally:
        if bar is not None:
            bar.close()
    tree = verify_tree(loki_dir(ctx))
    witnessed = None
    if witness:
        from .audit_anchor_cli import witness_check

        witnessed = witness_check(ctx)
    if json:
        echo_json({**result.to_dict(), "tree": tree.to_dict(), **({"witness": witnessed.to_dict()} if witnessed else {})})
    elif result.valid:
        head_text = f"head seq {result.head.seq} {result.head.hash}" if result.head else "empty chain"
        extra = f", {result.pending} event(s) not yet audited" if result.pending else ""
        anchor = ", anchor found" if result.anchorFound else ""
        typer.echo(f"audit chain valid: {result.entries} entries, {head_text}{anchor}{extra}")
    elif result.brokenAt is None:
        typer.echo(f"audit chain BROKEN: {result.error}")
    else:
        typer.echo(f"audit chain BROKEN at seq {result.brokenAt} (entry #{result.brokenIndex}): {result.error}")
    if tree.present and not json:
        typer.echo(f"merkle tree valid: {tree.size} leaves, root {tree.root}" if tree.valid
                   else f"merkle tree BROKEN: {tree.error}")
    if witnessed is not None and not json:
        from .audit_anchor_cli import render_check

        typer.echo(render_check(witnessed))
    if not (result.valid and tree.valid and (witnessed is None or witnessed.valid)):
        raise typer.Exit(1)


def _verify_loki_mode_chain(ctx: typer.Context, as_json: bool) -> None:
    from projections.audit.loki_chain import verify_loki_chain

    from .output import echo_json

    result = verify_loki_chain(loki_dir(ctx))
    if as_json:
        echo_json(result.to_dict())
    elif not result.present:
        typer.echo(f"no Loki Mode audit chain at {result.path}")
    elif result.valid:
        links = f", {result.crosslinks} cross-link(s), {result.manifestLinks} manifest link(s)"
        witnesses = f", {result.witness['witnesses']} witness record(s)" if result.witness.get("present") else ""
        typer.echo(f"Loki Mode audit chain valid: {result.entries} entries{links}{witnesses}, head {result.head}")
    else:
        typer.echo(f"Loki Mode audit chain BROKEN at entry #{result.brokenAt} (seq {result.brokenSeq}): {result.error}")
    if not result.valid:
        raise typer.Exit(1)


_HEAD_HASH = re.compile(r"(?:sha256:)?([0-9a-f]{64})")


def _head_hash(ctx: typer.Context, text: str) -> str:
    """``sha256:`` and 64 hex digits, as `audit head` prints it (the prefix may be left out)."""
    match = _HEAD_HASH.fullmatch(text.strip().lower())
    if match is None:
        raise bad_option(ctx, "against", f"{text!r} is not a head hash: expected sha256: and 64 hex digits, "
                                         "as `lokilog audit head` prints it")
    return f"sha256:{match.group(1)}"


@audit_app.command()
def head(ctx: typer.Context, json: bool = typer.Option(False, "--json", help="Print {seq, hash, entries} as JSON.")) -> None:
    """Print the chain's head (the last entry's event seq and hash) for anchoring outside the machine."""
    from dataclasses import asdict

    from projections.audit.trail import chain_head

    from .output import echo_json

    point = chain_head(loki_dir(ctx))
    if json:
        echo_json(asdict(point))
    else:
        typer.echo(f"seq {point.seq} {point.hash} ({point.entries} entries)")


@audit_app.command()
def query(
    ctx: typer.Context,
    who: str | None = typer.Option(None, "--who", help="Only entries by this actor."),
    what: str | None = typer.Option(None, "--what", help="Only this action (task.completed) or type (task)."),
    since: str | None = typer.Option(None, "--since", help="Only entries at or after this RFC 3339 time."),
    until: str | None = typer.Option(None, "--until", help="Only entries at or before this RFC 3339 time."),
    limit: int | None = typer.Option(None, "-n", "--limit", help="At most this many entries."),
    json: bool = typer.Option(False, "--json", help="Print entries as JSON lines."),
) -> None:
    """List audit entries, filtered by who, what and time (the reference readEntries)."""
    from itertools import islice

    import msgspec

    from projections.audit.trail import EntryQuery, read_entries

    from .output import table, to_json

    entries = islice(read_entries(loki_dir(ctx), EntryQuery.build(who, what, since, until)), limit)
    if json:
        for entry in entries:
            typer.echo(to_json(msgspec.to_builtins(entry)))
        return
    rows = [[e.seq, e.timestamp, e.who, e.what, e.where or "", e.why or ""] for e in entries]
    typer.echo(table(rows, ["seq", "timestamp", "who", "what", "where", "why"]))


@audit_app.command()
def report(
    ctx: typer.Context,
    framework: str = typer.Argument(..., metavar="soc2|iso27001|gdpr", help="The framework to report on."),
    json: bool = typer.Option(False, "--json", help="Print the report as JSON instead of Markdown."),
) -> None:
    """Evidence from the chain per control of a framework, the chain's integrity, and what is missing."""
    from projections.audit.compliance import build_report, render_markdown
    from projections.audit.trail import read_entries, verify_trail

    from .errors import bad_input
    from .output import echo_json

    framework = framework.lower().replace("-", "").replace(" ", "")
    directory = loki_dir(ctx)
    try:
        built = build_report(framework, read_entries(directory), verify_trail(directory))
    except ValueError as exc:
        raise bad_input(str(exc)) from None
    if json:
        echo_json(built.to_dict())
    else:
        typer.echo(render_markdown(built), nl=False)


@audit_app.command()
def residency(
    ctx: typer.Context,
    provider: str | None = typer.Option(None, "--provider", help="Check this provider instead of the log's."),
    region: str | None = typer.Option(None, "--region", help="The provider's region."),
    record: bool = typer.Option(True, "--record/--no-record", help="Record violations as residency.violation events."),
    json: bool = typer.Option(False, "--json", help="Print the decisions as JSON."),
) -> None:
    """Check model providers against the residency policy (.loki/residency.json, LOKI_RESIDENCY_PROVIDERS,
    LOKI_RESIDENCY_REGIONS, LOKI_AIR_GAPPED). Without --provider, checks every provider the log names.

    Exit code 1 when any provider violates the policy (fail closed)."""
    from dataclasses import asdict

    from .context import open_log
    from .output import echo_json, table
    from .audit.residency import check_provider, load_policy, providers_used, violation_event

    directory = loki_dir(ctx)
    policy = load_policy(directory)
    log = open_log(ctx)
    if provider is not None:
        decisions = [check_provider(provider, region, policy)]
    else:
        used = providers_used(log.read())
        decisions = [_with_seqs(check_provider(p, r, policy), seqs) for (p, r), seqs in sorted(used.items(), key=str)]
    violations = [d for d in decisions if not d.allowed]
    if record and violations:
        log.append_many([violation_event(d, d.seqs[0] if d.seqs else None) for d in violations])
    if json:
        echo_json({"policy": policy, "decisions": [asdict(d) for d in decisions], "violations": len(violations)})
    else:
        rows = [[d.provider, d.region or "-", "allowed" if d.allowed else "VIOLATION", d.reason,
                 ",".join(map(str, d.seqs[:5]))] for d in decisions]
        typer.echo(table(rows, ["provider", "region", "decision", "reason", "seqs"]) if rows else "no providers named in the log")
    if violations:
        raise typer.Exit(1)


def _with_seqs(decision, seqs):
    from dataclasses import replace

    return replace(decision, seqs=seqs)


@audit_app.command()
def forward(ctx: typer.Context, json: bool = typer.Option(False, "--json", help="Print {sent, error} as JSON.")) -> None:
    """Send chain entries not yet forwarded to syslog (LOKI_AUDIT_SYSLOG_HOST/_PORT/_PROTO); fails open."""
    from dataclasses import asdict

    from projections.audit.settings import AuditSettings
    from subscribers.syslog import SyslogSettings
    from subscribers.syslog import forward as send

    from .output import echo_json

    settings = SyslogSettings.from_env()
    if settings is None:
        typer.echo("syslog forwarding is off (set LOKI_AUDIT_SYSLOG_HOST)")
        return
    result = send(loki_dir(ctx), settings, AuditSettings.from_env())
    if json:
        echo_json(asdict(result))
    else:
        typer.echo(f"sent {result.sent} entr{'y' if result.sent == 1 else 'ies'}" + (f"; stopped: {result.error}" if result.error else ""))

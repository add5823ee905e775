"""`lokilog audit sth | prove | consistency | check-proof`: the Merkle tree over the audit entries."""
from __future__ import annotations

import json as jsonlib
import sys
from pathlib import Path

import typer

from eventlog import EventLogError

from .audit_group import audit_app
from .context import loki_dir
from .errors import bad_input, bad_option


def _tree(ctx: typer.Context):
    """Bring the Merkle projection up to the log's head; return (loki dir, settings, state)."""
    from projections.audit import AuditDisabledError, AuditSettings
    from projections.audit.merkle.projection import MerkleProjection
    from projections.engine import catch_up

    settings = AuditSettings.from_env()
    if settings.disabled:
        raise AuditDisabledError("the audit trail is disabled (LOKI_AUDIT_DISABLED=true): there is no tree to prove")
    directory = loki_dir(ctx)
    return directory, settings, catch_up(directory, MerkleProjection(settings)).state


def _store(directory: Path):
    from projections.audit.merkle.store import NodeStore, merkle_dir

    return NodeStore(merkle_dir(directory))


@audit_app.command()
def sth(
    ctx: typer.Context,
    json: bool = typer.Option(False, "--json", help="Print the head as JSON (the form check-proof --head reads)."),
    sign: bool = typer.Option(True, "--sign/--no-sign", help="Sign a new head when the tree grew (default), or only print."),
) -> None:
    """Print the newest signed tree head {tree_size, root_hash, timestamp}, signing one if the tree grew.

    A new head is signed with Ed25519 (key made on first use, see docs/AUDIT.md) and recorded in
    the log as an `audit` event (action tree_head_signed) for witnesses to publish. Signing needs
    the audit extra: pip install 'lokilog[audit]'."""
    from projections.audit.merkle.projection import MerkleProjection
    from projections.engine import catch_up

    from .audit.heads import key_path, load_or_create_key, record_head, sign_head
    from .output import echo_json

    directory, settings, state = _tree(ctx)
    head = state.heads[-1] if state.heads else None
    if not (state.head_current and head) and sign:
        key = load_or_create_key(key_path())
        head = record_head(directory, sign_head(key, state.size, state.root().hex()))
        catch_up(directory, MerkleProjection(settings))
    if head is None:
        raise EventLogError("no signed tree head yet (run `lokilog audit sth` without --no-sign)")
    if json:
        echo_json(head.to_dict())
    else:
        typer.echo(f"tree_size {head.tree_size} root {head.root_hash} at {head.timestamp} "
                   f"(key {head.key_id[:16]}, log seq {head.seq})")


@audit_app.command()
def prove(
    ctx: typer.Context,
    seq: int = typer.Argument(..., help="The log seq of the audited event (the entry's seq)."),
    tree_size: int | None = typer.Option(None, "--tree-size", help="Prove against this tree size "
                                         "(default: the newest signed head that contains the entry, else the whole tree)."),
) -> None:
    """Print an inclusion proof bundle (JSON) for one audit entry: entry, leaf index, path, root and head."""
    from projections.audit import AuditProjection
    from projections.audit.errors import AuditChainError
    from projections.audit.merkle.bundle import inclusion_bundle
    from projections.audit.merkle.lookup import find_entry
    from projections.audit.merkle.tree import leaf_hash
    from projections.engine import catch_up

    from .output import echo_json

    directory, settings, state = _tree(ctx)
    catch_up(directory, AuditProjection(settings))  # the entry's line is read from the chain
    with _store(directory) as store:
        index = store.index_of(seq)
        if index is None:
            raise bad_input(f"seq {seq} has no audit entry (not audited, or not in the log)")
        signed = [h.tree_size for h in state.heads if h.tree_size > index]
        size = tree_size if tree_size is not None else (signed[-1] if signed else store.size)
        if not index < size <= store.size:
            raise bad_option(ctx, "tree_size", f"must be in ({index}, {store.size}] to contain leaf {index}")
        leaf, entry = store.node(0, index), find_entry(directory, seq)
        if entry is not None and leaf_hash(entry) != leaf:
            raise AuditChainError(f"the chain's entry for seq {seq} is not the tree's leaf {index}: run `lokilog audit verify`")
        bundle = inclusion_bundle(seq, index, size, entry, leaf, store.inclusion(index, size), store.root(size),
                                  state.head_for(size))
    echo_json(bundle)


@audit_app.command()
def consistency(
    ctx: typer.Context,
    old_size: int = typer.Argument(..., help="The tree size of the older head (its tree_size)."),
    new_size: int | None = typer.Argument(None, help="The newer tree size (default: the newest signed head, else the whole tree)."),
) -> None:
    """Print a consistency proof bundle (JSON): the tree of OLD_SIZE leaves is a prefix of NEW_SIZE's."""
    from projections.audit.merkle.bundle import consistency_bundle

    from .output import echo_json

    directory, _, state = _tree(ctx)
    with _store(directory) as store:
        if new_size is None:
            signed = [h.tree_size for h in state.heads if h.tree_size >= old_size]
            new_size = signed[-1] if signed else store.size
        if not 0 <= old_size <= new_size <= store.size:
            raise bad_input(f"sizes must satisfy 0 <= OLD_SIZE <= NEW_SIZE <= {store.size}, got {old_size} and {new_size}")
        bundle = consistency_bundle(old_size, new_size, store.root(old_size), store.root(new_size),
                                    store.consistency(old_size, new_size), state.head_for(new_size),
                                    state.head_for(old_size))
    echo_json(bundle)


@audit_app.command("check-proof")
def check_proof(
    proof: str = typer.Argument(..., metavar="PROOF", help="The bundle printed by `audit prove` or `audit consistency` ('-': stdin)."),
    entry: Path | None = typer.Option(None, "--entry", help="The entry's stored line (a file), instead of the bundle's."),
    head: Path | None = typer.Option(None, "--head", help="The signed head you hold (JSON, as `audit sth --json` prints)."),
    old_head: Path | None = typer.Option(None, "--old-head", help="For consistency: the older signed head you hold."),
    public_key: str | None = typer.Option(None, "--public-key", help="Pin the signer: its base64 key or key id, or a file holding one."),
    json: bool = typer.Option(False, "--json", help="Print {valid, type, checks, error, signed} as JSON."),
) -> None:
    """Verify a proof bundle on its own: no log, no tree, only the proof, the entry and a head.

    Exit code 0 when it verifies, 1 when it does not, 2 when a file cannot be read."""
    from projections.audit.merkle.bundle import check_bundle

    from .output import echo_json

    pinned = public_key
    if public_key is not None and Path(public_key).is_file():
        pinned = Path(public_key).read_text().strip()
    line = _read(entry, "--entry", raw=True) if entry is not None else None
    result = check_bundle(_read(proof, "PROOF"), entry=line, head=_read(head, "--head") if head else None,
                          old_head=_read(old_head, "--old-head") if old_head else None, pinned_key=pinned)
    if json:
        echo_json(result.to_dict())
    elif result.valid:
        typer.echo(f"{result.type} proof valid: " + "; ".join(result.checks))
    else:
        typer.echo(f"{result.type or 'proof'} proof INVALID: {result.error}")
    if not result.valid:
        raise typer.Exit(1)


def _read(source, what: str, raw: bool = False):
    try:
        data = sys.stdin.buffer.read() if str(source) == "-" else Path(source).read_bytes()
    except OSError as exc:
        raise bad_input(f"{what}: cannot read {source}: {exc.strerror}") from None
    if raw:
        return data[:-1] if data.endswith(b"\n") else data
    try:
        return jsonlib.loads(data)
    except ValueError as exc:
        raise bad_input(f"{what}: {source} is not JSON ({exc})") from None

"""`lokilog audit anchor`: publish the audit chain's head to external witnesses (see audit_anchors)."""
from __future__ import annotations

from typing import List, Optional

import typer

from .audit_group import audit_app
from .context import loki_dir


@audit_app.command()
def anchor(
    ctx: typer.Context,
    to: Optional[List[str]] = typer.Option(None, "--to", metavar="WITNESS",
                                           help="A witness: /abs/file.jsonl, http(s)://host/path or git:/repo[#refs/...]; "
                                                "repeatable (default: $LOKI_AUDIT_WITNESS, comma-separated)."),
    json: bool = typer.Option(False, "--json", help="Print the recorded receipts as JSON."),
) -> None:
    """Publish the chain's head {seq, hash, entries} to each witness and record its receipt as audit.anchored.

    A witness outside the project keeps what `.loki/` cannot un-say: `lokilog audit verify --witness`
    later checks the chain against every receipt and every anchor the witnesses hold, so a chain
    rewritten end to end is caught. Exit code 1 when a witness could not be reached (recorded as
    audit.anchor_failed).

    Examples:  lokilog audit anchor --to /mnt/backup/anchors.jsonl
               lokilog audit anchor --to git:$HOME/anchors.git --to https://witness.example/anchors
    """
    from .audit.anchors import WITNESS_ENV, anchor as publish, configured
    from .audit.witness import WitnessError
    from .errors import bad_option, option_label
    from .output import echo_json

    directory = loki_dir(ctx)
    try:
        witnesses = configured(directory, to)
    except WitnessError as exc:
        raise bad_option(ctx, "to", str(exc)) from None
    if not witnesses:
        raise bad_option(ctx, "to", f"no witness: pass {option_label(ctx, 'to')} WITNESS or set {WITNESS_ENV}")
    recorded = publish(directory, witnesses)
    if json:
        echo_json(recorded)
    else:
        for item in recorded:
            outcome = "anchored" if item["action"] == "anchored" else f"FAILED: {item['error']}"
            typer.echo(f"{item['witness']}: seq {item['seq']} {item['hash']} {outcome}")
    if any(item["action"] != "anchored" for item in recorded):
        raise typer.Exit(1)


def witness_check(ctx: typer.Context):
    """`audit verify --witness`: the chain against every receipt and witness (and $LOKI_AUDIT_WITNESS)."""
    from .audit.anchors import check, configured
    from .audit.witness import WitnessError
    from .errors import bad_input

    directory = loki_dir(ctx)
    try:
        extra = configured(directory)
    except WitnessError as exc:
        raise bad_input(str(exc)) from None
    return check(directory, extra)


def render_check(found) -> str:
    """One line for the verdict, one per problem."""
    read = ", ".join(f"{name}: {'not served' if n is None else n}" for name, n in sorted(found.witnesses.items()))
    if found.valid:
        return f"witnesses agree: {found.receipts} receipt(s) checked; anchors read back: {read or 'none'}"
    return "\n".join([f"witness check FAILED ({found.receipts} receipt(s); anchors read back: {read or 'none'}):"]
                     + [f"  {p}" for p in found.problems])

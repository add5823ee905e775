"""`lokilog checkpoint create|list|show|prune|repair` and `lokilog rollback`."""
from __future__ import annotations

import re
from datetime import timedelta
from typing import Optional

import typer

from .context import loki_dir
from .errors import bad_input, blame, option_label
from .output import echo_json, table

CHECKPOINT_HELP = """\
Checkpoints: a named log position plus copies of the state files that do not come from the
log (session.json, dashboard-state.json, CONTINUITY.md, autonomy-state.json, state/, queue/)
and, in a git repository, a snapshot of the working tree (refs/loki/cp/<id>).

\b
  lokilog checkpoint create -m "before the refactor"
  lokilog checkpoint list            lokilog checkpoint show ID
  lokilog rollback latest            lokilog rollback ID --code
  lokilog checkpoint prune --keep 20 --older-than 14d

Loki Mode's own checkpoints (cp-<iter>-<epoch>, cp-<ts>, chk-<ts>) are listed and can be
rolled back to as well.
"""

ROLLBACK_HELP = """\
Roll back to a checkpoint (an id, or `latest`: the newest checkpoint that is not itself a
pre-rollback snapshot).

First a pre-rollback checkpoint of the current state is taken, so every rollback can be undone:
the command to do so is printed. Then the checkpoint's files are restored (its scopes exactly;
a Loki Mode checkpoint is merged in), the run state is rewound to the checkpoint's log
position, and a checkpoint.rolled_back event is recorded. Ledgers (audit, cost, metrics) keep
counting. With --code the tracked files of the git working tree are restored too (outside
.loki/; untracked files are left alone); without it, the command that would do so is printed.

Exit codes: 0 done; 1 done but some items failed (listed), or no such checkpoint; 2 a malformed id.
"""


def register(app: typer.Typer) -> None:
    group = typer.Typer(help=CHECKPOINT_HELP, no_args_is_help=True, rich_markup_mode=None)
    group.command()(create)
    group.command("list")(list_)
    group.command()(show)
    group.command()(prune)
    group.command()(repair)
    app.add_typer(group, name="checkpoint")
    app.command(help=ROLLBACK_HELP)(rollback)
    from .demo_cli import add_section

    add_section("Checkpoints and rollback", demo_section)


def demo_section(root) -> str:
    """Take a checkpoint of the demo run, break its queue, roll back, and show the undo."""
    from .checkpoints.rollback import rollback as do_rollback
    from .checkpoints.lifecycle import create as create_checkpoint, list_checkpoints

    queue = root / "queue" / "pending.json"
    queue.parent.mkdir(parents=True, exist_ok=True)
    queue.write_text('["task-003"]\n')
    made = create_checkpoint(root, "before retrying the deploy").manifest
    queue.write_text('["task-003", "task-004: rewrite everything"]\n')
    done = do_rollback(root, made.id)
    rows = [[r["id"], r["kind"], "" if r["log_seq"] is None else r["log_seq"], _clip(r["message"], 40)]
            for r in list_checkpoints(root)]
    return "\n".join([
        table(rows, ["ID", "KIND", "LOG SEQ", "MESSAGE"]),
        f"Rolled back to {made.id}: queue/pending.json is {queue.read_text().strip()} again.",
        f"Undo it with:  LOKI_DIR={root} {done.undo_command}",
    ])


def _recover(ctx: typer.Context):
    """Finish what a crash interrupted, and say so (on stderr, so --json stays clean)."""
    from .checkpoints.rollback import finish_interrupted
    from .checkpoints.lifecycle import repair as repair_store

    root = loki_dir(ctx)
    finished = finish_interrupted(root)
    if finished is not None:
        typer.echo(f"lokilog: an interrupted rollback to {finished.checkpoint_id} was found and finished "
                   f"(undo: {finished.undo_command})", err=True)
    report = repair_store(root)
    for name in report.removed_debris:
        typer.echo(f"lokilog: removed {name}, an incomplete checkpoint left by a crash", err=True)
    for checkpoint_id in report.recorded:
        typer.echo(f"lokilog: recorded checkpoint {checkpoint_id}, whose event a crash had lost", err=True)
    if report.forgotten:
        typer.echo(f"lokilog: recorded {len(report.forgotten)} checkpoint(s) whose directories are gone as pruned",
                   err=True)
    if report.imported:
        typer.echo(f"lokilog: imported {len(report.imported)} Loki Mode checkpoint record(s)", err=True)
    return root


def create(
    ctx: typer.Context,
    message: str = typer.Option("", "--message", "-m", help="What this checkpoint is for."),
    json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Take a checkpoint of the current state (and git working tree) and record it in the log."""
    from .checkpoints.lifecycle import catalogue, create as create_checkpoint

    root = _recover(ctx)
    made = create_checkpoint(root, message)
    catalogue(root)  # rewrites index.jsonl
    manifest = made.manifest
    files = sum(e.kind == "file" for e in manifest.entries)
    if json:
        echo_json({"id": manifest.id, "log_seq": manifest.log_seq, "files": files, "git": manifest.git,
                   "git_error": made.git_error, "skipped": manifest.skipped, "receipt": made.receipt})
        return
    typer.echo(f"Checkpoint {manifest.id} at log seq {manifest.log_seq}: {files} file(s)"
               + (f", working tree {manifest.git.sha[:12]} ({manifest.git.ref})" if manifest.git else ""))
    if made.git_error:
        typer.echo(f"warning: no working-tree snapshot: {made.git_error}", err=True)
    for path in manifest.skipped:
        typer.echo(f"warning: skipped {path} (not a regular file, or unreadable)", err=True)
    typer.echo(f"Roll back to it with:  lokilog rollback {manifest.id}")


def list_(
    ctx: typer.Context,
    json: bool = typer.Option(False, "--json", help="One JSON array of records."),
) -> None:
    """List every checkpoint, oldest first (lokilog's and Loki Mode's)."""
    from projections.checkpoints import public

    from .checkpoints.lifecycle import list_checkpoints

    found = list_checkpoints(_recover(ctx))
    if json:
        echo_json([public(r) for r in found])
        return
    if not found:
        typer.echo("No checkpoints yet. Take one with: lokilog checkpoint create -m MESSAGE")
        return
    rows = [[r["id"], r["created_at"], r["kind"], "" if r["log_seq"] is None else r["log_seq"],
             r.get("files", ""), _clip(r["message"])] for r in found]
    typer.echo(table(rows, ["ID", "CREATED", "KIND", "LOG SEQ", "FILES", "MESSAGE"]))


def _clip(text: str, width: int = 50) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def show(
    ctx: typer.Context,
    checkpoint_id: str = typer.Argument(..., metavar="ID|latest", help="The checkpoint id, or `latest`."),
    json: bool = typer.Option(False, "--json", help="Print record and manifest as JSON."),
) -> None:
    """Show one checkpoint (an id, or `latest`, as for rollback): its record, files and git snapshot."""
    from projections.checkpoints import public

    from .checkpoints.rollback import resolve
    from .checkpoints.store import CheckpointNotFoundError, CheckpointStore
    from .checkpoints.lifecycle import find, manifest_of

    root = _recover(ctx)
    checkpoint_id = resolve(root, checkpoint_id)
    record = find(root, checkpoint_id)
    try:
        manifest = manifest_of(CheckpointStore(root), checkpoint_id)
    except CheckpointNotFoundError:
        manifest = None  # recorded in the log only (e.g. by a runner): nothing to restore
    if json:
        echo_json({"record": public(record), "manifest": manifest})
        return
    typer.echo(f"{record['id']}  ({record['kind']}, by {record['created_by']})\n"
               f"  created   {record['created_at']}\n  message   {record['message']}\n"
               f"  log seq   {record['log_seq']}")
    if manifest is None:
        typer.echo("  files     none: this checkpoint is recorded in the log only")
        return
    if manifest.git:
        typer.echo(f"  git       {manifest.git.sha} ({manifest.git.kind}) anchored at {manifest.git.ref}")
    rows = [[e.kind, e.path, (e.sha256 or e.target or "")[:16]] for e in manifest.entries]
    typer.echo(table(rows, ["KIND", "PATH", "CONTENT"]) if rows else "  (no files)")
    for path in manifest.skipped:
        typer.echo(f"  skipped   {path}")


def prune(
    ctx: typer.Context,
    keep: Optional[int] = typer.Option(None, "--keep", min=0, help="Keep the N newest lokilog checkpoints."),
    older_than: Optional[str] = typer.Option(None, "--older-than", help="Only prune ones older than this: 30m, 12h, 14d, 2w."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Say what would be pruned; change nothing."),
    json: bool = typer.Option(False, "--json"),
) -> None:
    """Delete old lokilog checkpoints. The latest pre-rollback checkpoint (the undo of the last
    rollback) and Loki Mode's own checkpoints are never pruned."""
    from .checkpoints.lifecycle import prune as prune_store

    if keep is None and older_than is None:
        raise bad_input(f"say what to prune: {option_label(ctx, 'keep')} N and/or {option_label(ctx, 'older_than')} AGE")
    with blame(ctx, "older_than"):
        age = parse_age(older_than)
    result = prune_store(_recover(ctx), keep=keep, older_than=age, dry_run=dry_run)
    if json:
        echo_json(result)
        return
    verb = "Would prune" if dry_run else "Pruned"
    typer.echo(f"{verb} {len(result.pruned)} checkpoint(s); kept {len(result.kept)}"
               + (f"; protected {result.protected} (undo of the last rollback)" if result.protected else ""))
    for checkpoint_id in result.pruned:
        typer.echo(f"  {checkpoint_id}")


def repair(ctx: typer.Context) -> None:
    """Finish an interrupted rollback, clear half-written checkpoints, import Loki Mode's."""
    _recover(ctx)
    typer.echo("Checkpoint store is consistent.")


def rollback(
    ctx: typer.Context,
    target: str = typer.Argument(..., metavar="ID|latest", help="Checkpoint id, or `latest`."),
    code: bool = typer.Option(False, "--code", help="Also restore tracked files of the git working tree."),
    json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    from .checkpoints.rollback import rollback as do_rollback
    from .progress import progress_bar

    bar = progress_bar("restore", "paths", json=json)
    try:
        result = do_rollback(_recover(ctx), target, code=code, progress=bar)
    finally:
        if bar is not None:
            bar.close()
    errors = result.outcome.errors + result.errors
    if json:
        echo_json({"checkpoint_id": result.checkpoint_id, "pre_rollback_checkpoint": result.pre_rollback_checkpoint,
                   "to_seq": result.to_seq, "restored": result.outcome.restored, "removed": result.outcome.removed,
                   "errors": errors, "code_restored": result.code_restored, "undo": result.undo_command})
    else:
        _print_rollback(result, errors)
    if errors:
        raise typer.Exit(1)


def _print_rollback(result, errors: list[str]) -> None:
    outcome = result.outcome
    typer.echo(f"Rolled back to {result.checkpoint_id}: restored {len(outcome.restored)} path(s), "
               f"removed {len(outcome.removed)}.")
    for path in outcome.restored:
        typer.echo(f"  restored  {path}")
    for path in outcome.removed:
        typer.echo(f"  removed   {path}")
    if result.to_seq is not None:
        typer.echo(f"Run state rewound to log seq {result.to_seq}; ledgers keep counting.")
    if result.code_restored:
        typer.echo("Working tree: tracked files restored from the checkpoint's git snapshot.")
    elif result.code_command:
        typer.echo(f"Working tree: not restored. To restore it:  lokilog rollback {result.checkpoint_id} --code"
                   f"   (or: {result.code_command})")
    for error in errors:
        typer.echo(f"error: {error}", err=True)
    typer.echo(f"Undo this rollback:  {result.undo_command}")


_AGE = re.compile(r"(\d+)\s*([smhdw])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_age(text: Optional[str]) -> Optional[timedelta]:
    """Parse 90s, 30m, 12h, 14d, 2w into a timedelta."""
    if text is None:
        return None
    match = _AGE.fullmatch(text.strip().lower())
    if not match:
        raise bad_input(f"{text!r}: use a number and a unit, e.g. 30m, 12h, 14d, 2w")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})

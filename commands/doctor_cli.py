"""`lokilog doctor`: a report of what is in a `.loki/`, in sections other features can extend.

A feature adds a section with :func:`add_check`; its function gets the `.loki/` paths and
returns a :class:`Section` (a status, lines for people, data for --json). Checks only read.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import typer

from eventlog import LokiPaths

from .context import loki_paths
from .output import echo_json

OK, WARN, PROBLEM = "ok", "warn", "problem"


@dataclass
class Section:
    """One part of the report: ``status`` is ok, warn or problem."""

    status: str = OK
    lines: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)


Check = Callable[[LokiPaths], Section]
#: Sections in report order; features add theirs with add_check.
CHECKS: list[tuple[str, Check]] = []


def add_check(name: str, check: Check) -> None:
    """Add (or replace) a named section of `lokilog doctor`."""
    for position, (existing, _) in enumerate(CHECKS):
        if existing == name:
            CHECKS[position] = (name, check)
            return
    CHECKS.append((name, check))


def register(app: typer.Typer) -> None:
    app.command()(doctor)


def doctor(
    ctx: typer.Context,
    json: bool = typer.Option(False, "--json", help="Print the report as one JSON object."),
) -> None:
    """Report what is in a .loki/: legacy files waiting, bad files and lines, flat-file cursors,
    the log lock (and who holds it), disk use, and every section features add.

    Only reads. Exits 1 when a section reports a problem (bad files, unreadable state).
    """
    paths = loki_paths(ctx)
    results = [(name, _run(check, paths)) for name, check in CHECKS]
    if json:
        echo_json({"loki_dir": str(paths.root), "sections": {
            name: {"status": s.status, **s.data} for name, s in results}})
    else:
        typer.echo(f"lokilog doctor: {paths.root}")
        for name, section in results:
            typer.echo(f"\n[{section.status}] {name}")
            for line in section.lines:
                typer.echo(f"  {line}")
    if any(s.status == PROBLEM for _, s in results):
        raise typer.Exit(1)


def _run(check: Check, paths: LokiPaths) -> Section:
    try:
        return check(paths)
    except OSError as exc:  # a read-only or unreadable .loki/: say which file, in words
        from .errors import message_for

        return Section(PROBLEM, [f"the check failed: {message_for(exc)}"], {"error": str(exc)})
    except Exception as exc:  # one broken section must not hide the others
        return Section(PROBLEM, [f"the check failed: {type(exc).__name__}: {exc}"], {"error": str(exc)})


# ------------------------------------------------------------------ built-in sections


def legacy_files(paths: LokiPaths) -> Section:
    """Files in pending/ and archive/, and which are not ingested yet or bad."""
    from eventlog.legacy.ingest import legacy_status

    status = legacy_status(paths)
    waiting, bad = status["not_yet_ingested"], status["bad_files"]
    lines = [f"pending/ {status['pending_files']} file(s), archive/ {status['archive_files']} file(s); "
             f"not ingested yet {len(waiting)}, bad {len(bad)}"]
    lines += [f"waiting: {p}" for p in waiting[:20]]
    lines += [f"bad: {b['path']}: {b['reason']}" for b in bad[:50]]
    data = {k: status[k] for k in ("pending_files", "archive_files", "not_yet_ingested", "bad_files")}
    return Section(PROBLEM if bad else WARN if waiting else OK, lines, data)


def flat_files(paths: LokiPaths) -> Section:
    """Loki Mode's flat events.jsonl files: size, how far they were read, bad lines."""
    from eventlog.legacy.ingest import legacy_status

    status = legacy_status(paths)
    lines = []
    for info in status["flat_files"]:
        tail = ", ends without a newline (a write in flight or torn)" if info["unterminated_tail"] else ""
        lines.append(f"{info['path']}: {info['size']} bytes, read to byte {info['read_to']}, "
                     f"{info['unread_bytes']} unread{tail}")
    if not status["flat_files"]:
        lines.append("no events.jsonl here")
    lines += [f"bad line: {b['path']} byte {b['offset']}: {b['reason']}" for b in status["bad_lines"][:20]]
    if status["bad_line_count"]:
        lines.append(f"{status['bad_line_count']} bad line(s) in all (skipped; the events around them were kept)")
    unread = any(i["unread_bytes"] for i in status["flat_files"])
    data = {k: status[k] for k in ("flat_files", "cursors", "bad_lines", "bad_line_count")}
    return Section(WARN if unread or status["bad_line_count"] else OK, lines, data)


def lock(paths: LokiPaths) -> Section:
    """The log lock: free, or held (and by which pids, where the OS says)."""
    from eventlog.lockinfo import lock_state

    state = lock_state(paths.lock_file)
    if not state.exists:
        line = "no lock file yet (nothing has been appended)"
    elif not state.held:
        line = "free"
    else:
        who = ", ".join(f"pid {p} ({_command(p)})" for p in state.holders) or "a process /proc/locks does not name"
        line = f"held by {who}"
    return Section(WARN if state.held else OK, [f"{paths.lock_file}: {line}"], state.__dict__)


def disk(paths: LokiPaths) -> Section:
    """Bytes used under .loki/ by part, and the free space of its file system."""
    parts = {
        "log": paths.log_dir, "pending": paths.pending, "archive": paths.archive,
        "quarantine": paths.quarantine, "index": paths.index_file,
        "legacy_state": paths.events / "legacy.sqlite",
        "flat": paths.root / "events.jsonl", "flat_rotated": paths.root / "events.jsonl.1",
    }
    sizes = {name: _bytes(path) for name, path in parts.items()}
    total = _bytes(paths.root)
    lines = [f"{name}: {_human(size)}" for name, size in sizes.items() if size]
    lines.append(f".loki/ in all: {_human(total)}")
    data = {"bytes": sizes, "total_bytes": total}
    try:
        fs = os.statvfs(paths.root)
        free = fs.f_bavail * fs.f_frsize
        lines.append(f"free on its file system: {_human(free)}")
        data["free_bytes"] = free
    except OSError:
        pass
    low = data.get("free_bytes", 1 << 40) < 100 * 1024 * 1024
    return Section(WARN if low else OK, lines, data)


def containment(paths: LokiPaths) -> Section:
    """Directories lokilog writes into that lead outside `.loki/` (planted links): refused."""
    from eventlog.safeio import escapes

    found = escapes(paths.root)
    lines = found or ["every directory lokilog writes into stays inside .loki/"]
    return Section(PROBLEM if found else OK, lines, {"escapes": found})


def _bytes(path: Path) -> int:
    try:
        if path.is_file():
            return path.stat().st_size
        total = 0
        for folder, _, names in os.walk(path):
            for name in names:
                try:
                    total += os.lstat(os.path.join(folder, name)).st_size
                except OSError:
                    continue
        return total
    except OSError:
        return 0


def _human(size: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return str(size)


def _command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()[:80]
    except OSError:
        return "unknown"


add_check("legacy files", legacy_files)
add_check("flat files", flat_files)
add_check("lock", lock)
add_check("disk", disk)
add_check("containment", containment)

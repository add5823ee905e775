"""`lokilog status` without the parser: catching the run state up and rendering it.

Shared by the typer command (commands/projection_cli.py) and the typer-free front
(commands/fast_cli.py), so both print the same thing.
"""
from __future__ import annotations

import sys

from .output import table


def notices(results) -> None:
    """Print each projection result's notices as warnings on stderr."""
    for result in results:
        for line in result.notices:
            print(f"lokilog: warning: {line}", file=sys.stderr, flush=True)


def refreshed_or_read_only(root, projection):
    """Catch the projection up and write its views; where they cannot be written, fold in memory and say so."""
    from projections.engine import catch_up, state_at

    from .errors import message_for

    try:
        return catch_up(root, projection)
    except OSError as error:
        result = state_at(root, projection)
        print(f"lokilog: warning: could not refresh the {projection.name} views ({message_for(error)}); "
              f"showing the state read from the log and the snapshot on disk", file=sys.stderr, flush=True)
        return result


def render_status(view: dict) -> str:
    """Render the run-state summary as text for people."""
    session = view["session"] or {}
    lines = [
        f"session  {session.get('id', '-')}  {session.get('status', '-')}  phase {view['phase'] or '-'}"
        f"  iteration {session.get('iteration') if session.get('iteration') is not None else '-'}  (seq {view['seq']})",
        "agents   " + (", ".join(f"{a['id']} ({a['type']})" for a in view["agents"]) or "none"),
        "tasks    " + "  ".join(f"{k} {v}" for k, v in view["task_counts"].items()),
    ]
    rows = [[status, ", ".join(ids[:8]) + (f" (+{len(ids) - 8})" if len(ids) > 8 else "")]
            for status, ids in view["tasks_by_status"].items() if ids]
    if rows:
        lines += ["", table(rows, ["STATUS", "TASKS"])]
    gates = view["gates"]
    if gates["recent"]:
        lines += ["", f"gates    {gates['passed']} passed, {gates['failed']} failed (latest result per task and gate);"
                      " the newest:",
                  table([[g["task_id"] or "-", g["gate"], g["result"], g["seq"]] for g in gates["recent"]],
                        ["TASK", "GATE", "RESULT", "SEQ"])]
    return "\n".join(lines)

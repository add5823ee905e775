"""`.loki/state/run/tasks.json` rewritten from the tasks that changed, not re-encoded whole.

The watch daemon rewrites the file on every wake-up, and with thousands of tasks encoding and
pretty-printing every one of them dominated a small catch-up. This keeps each task's piece of
the document as pretty-printed before and re-encodes a task only when it may have changed.
The bytes are exactly those of encoding the whole view at once (a test compares them).

A task changes only through the fold: every task event sets ``updated_seq``, and a quality
gate changes ``gates``; so ``updated_seq`` and the gates say when a piece is stale. The pieces belong to one state object: a different state (a snapshot
resumed, a rollback restored, another log) starts from nothing.
"""
from __future__ import annotations

from typing import Any

import msgspec

_encoder = msgspec.json.Encoder(order="sorted")
_INDENT = b"\n    "  # a task sits two levels deep: {"tasks": [ <task>, ... ]}


class TasksDocument:
    """Remembers the pretty-printed piece of each task of one state."""

    def __init__(self) -> None:
        self._state: Any = None
        self._pieces: dict[str, tuple[int, dict[str, str], bytes]] = {}
        self._order: list[str] = []  # the task ids sorted; the fold adds tasks, never removes one

    def encode(self, state: Any) -> bytes:
        """Return the bytes of ``format(encode({"seq": .., "tasks": [..sorted by id]}), indent=2) + "\\n"``."""
        if self._state is not state:
            self._state, self._pieces, self._order = state, {}, []
        pieces, tasks = self._pieces, state.tasks
        if len(self._order) != len(tasks) or len(pieces) > len(tasks):
            self._order = sorted(tasks)
            self._pieces = pieces = {k: v for k, v in pieces.items() if k in tasks}
        out = []
        append = out.append
        for task_id in self._order:
            task = tasks[task_id]
            known = pieces.get(task_id)
            if known is None or known[0] != task.updated_seq or known[1] != task.gates:
                piece = msgspec.json.format(_encoder.encode(task), indent=2).replace(b"\n", _INDENT)
                known = pieces[task_id] = (task.updated_seq, dict(task.gates), piece)
            append(known[2])
        seq = _encoder.encode(state.seq)
        if not out:
            return b'{\n  "seq": ' + seq + b',\n  "tasks": []\n}\n'
        return b'{\n  "seq": ' + seq + b',\n  "tasks": [\n    ' + b",\n    ".join(out) + b"\n  ]\n}\n"

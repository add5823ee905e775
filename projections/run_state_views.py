"""`.loki/state/run/tasks.json`: one line per task, rewritten from the tasks that changed.

The document is ``{"seq":N,"tasks":[`` then each task sorted by id, one per line, its fields
sorted and compact, lines joined by ``,`` and a newline, then ``]}``: valid JSON, a task
found with grep, and small (pretty-printed, every transition of a history took five lines:
27 MB for 5 000 tasks).

The watch daemon rewrites the file on every wake-up, so the line of each task is remembered
and re-encoded only when the task changed. Every event that changes a task sets its
``updated_seq`` (task events and quality gates on it), so an ``updated_seq`` other than the one
a line was encoded at means the line is stale. The lines belong to one state object: a
different state (a snapshot resumed, a rollback restored, another log) starts from nothing.
The bytes are exactly those of :func:`tasks_bytes` (a test compares them).
"""
from __future__ import annotations

from typing import Any

import msgspec

_encoder = msgspec.json.Encoder(order="sorted")


def tasks_bytes(state: Any) -> bytes:
    """Return the whole document encoded from scratch (what :class:`TasksDocument` must equal)."""
    return b"".join(_chunks(state.seq, [_encoder.encode(state.tasks[k]) + _SEP for k in sorted(state.tasks)]))


_SEP = b",\n"  # after every task's line but the last


def _chunks(seq: int, lines: list[bytes]) -> list[bytes]:
    # The document's pieces, in order, for os.writev: the lines are not copied into one buffer
    # (joining 3 MB cost more than writing it); only the last loses its separator.
    head = b'{"seq":' + _encoder.encode(seq) + b',"tasks":['
    if not lines:
        return [head + b"]}\n"]
    return [head + b"\n", *lines[:-1], lines[-1][:-len(_SEP)] + b"\n]}\n"]


class TasksDocument:
    """Remembers the encoded line of each task of one state."""

    def __init__(self) -> None:
        self._state: Any = None
        self._order: list[str] = []  # the task ids sorted; the fold adds tasks, never removes one
        self._lines: list[bytes] = []  # the line of each (with its separator), in that order
        self._seqs: list[int] = []  # the updated_seq each line was encoded at

    def chunks(self, state: Any) -> list[bytes]:
        """Return :func:`tasks_bytes` of ``state`` in pieces, re-encoding the changed tasks only."""
        tasks = state.tasks
        if self._state is not state:
            self._state, self._order, self._lines, self._seqs = state, [], [], []
        if len(self._order) != len(tasks):
            self._reorder(tasks)
        lines, seqs, encode = self._lines, self._seqs, _encoder.encode
        for i, task in enumerate(map(tasks.__getitem__, self._order)):
            if task.updated_seq != seqs[i]:
                lines[i], seqs[i] = encode(task) + _SEP, task.updated_seq
        return _chunks(state.seq, lines)

    def encode(self, state: Any) -> bytes:
        """Return :func:`tasks_bytes` of ``state`` (from :meth:`chunks`)."""
        return b"".join(self.chunks(state))

    def _reorder(self, tasks: dict[str, Any]) -> None:
        # New tasks: sort again, keeping the lines already encoded (-1 marks a line to encode).
        known = dict(zip(self._order, zip(self._lines, self._seqs)))
        self._order = sorted(tasks)
        pieces = [known.get(task_id, (b"", -1)) for task_id in self._order]
        self._lines = [line for line, _ in pieces]
        self._seqs = [seq for _, seq in pieces]

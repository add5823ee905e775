"""`.loki/trackers/state.json`, assembled from remembered pieces instead of encoded whole.

The view is the outbox (every op not yet synced, oldest cause first), the synced count, the
links, the webhook reports and their count, pretty-printed with an indent of 2: exactly the
bytes of :func:`view_bytes`, which encodes and formats it whole (a test compares them).

The watch daemon rewrites it after every wake-up, while a run with a few thousand linked items
keeps thousands of ops pending: sorting, encoding and formatting all of them took most of a
catch-up's view writes. :class:`TrackerView` keeps each op's formatted piece with a copy of the
op it was formatted from, and the pieces in outbox order; a write compares each op with its
copy (ops change in place when a sync fails or is retried), formats the changed ones only and
moves them in the order by bisection. It compares values, not identities, so any state (a
snapshot resumed, a rollback restored) gets the same bytes as a fresh build. The first write
of each object formats the view whole (cheaper when there is only one, as for a one-shot
command); the pieces are made at the second.
"""
from __future__ import annotations

import bisect

import msgspec

from .tracker_state import Op, Target, TrackerState, order_key, outbox, with_id

_encode = msgspec.json.encode


def _pretty(data: bytes, depth: int) -> bytes:
    # A part formatted alone, then indented for where it sits: JSON strings hold no raw
    # newlines (they are escaped), so every newline is a line break of the layout.
    return msgspec.json.format(data, indent=2).replace(b"\n", b"\n" + b"  " * depth)


def view_bytes(state: TrackerState, links: msgspec.Raw | None = None) -> bytes:
    """The whole view encoded and formatted from scratch (what :class:`TrackerView` must equal)."""
    view = {
        "pending": outbox(state, include_given_up=True),
        "synced": len(state.synced),
        "links": links if links is not None else {
            task: [target.key for target in targets] for task, targets in sorted(state.links.items())
        },
        "remote": state.remote,
        "webhooks": state.webhooks,
    }
    return msgspec.json.format(_encode(view), indent=2) + b"\n"


class TrackerView:
    """The view's pieces as last written by one projection object (see the module docstring)."""

    def __init__(self) -> None:
        self._writes = 0
        # "status" or "pending", then the state's key -> (copy of the op, its sort key, shown)
        self._known: dict[str, dict[str, tuple[Op, tuple, bool]]] = {"status": {}, "pending": {}}
        self._synced: tuple[object, int] = (None, 0)  # the synced ids looked at, and how many
        self._order: list[tuple] = []   # sort keys of the ops shown, in outbox order
        self._pieces: list[bytes] = []  # b'\n    {...},' for each, in that order
        self._links: _LinksMemo | None = None

    def chunks(self, state: TrackerState) -> list[bytes]:
        """Return :func:`view_bytes` of ``state`` in pieces, formatting the ops that changed only."""
        links = self._links
        if links is None or links.links is not state.links:
            links = self._links = _LinksMemo(state.links)
        self._writes += 1
        if self._writes == 1:
            # A one-shot command writes once: formatting the whole view costs less than
            # formatting each op alone, so the pieces are kept from the second write on.
            return [view_bytes(state, links.encode())]
        self._follow("status", state.statuses, state.synced)
        self._follow("pending", state.pending, None)
        pieces = self._pieces
        head = b'{\n  "pending": ['
        body = [head, *pieces[:-1], pieces[-1][:-1] + b"\n  ],\n"] if pieces else [head + b"],\n"]
        body.append(b"".join((
            b'  "synced": ', _encode(len(state.synced)), b',\n  "links": ', links.pretty(),
            b',\n  "remote": ', _pretty(_encode(state.remote), 1), b',\n  "webhooks": ', _encode(state.webhooks),
            b"\n}\n",
        )))
        return body

    def _follow(self, kind: str, ops: dict[str, Op], synced: dict[str, int] | None) -> None:
        """Bring the pieces of one dict of ops up to date; ``synced`` hides status ops already synced."""
        known, gone, added = self._known[kind], [], []
        # An op synced since the last write leaves the outbox without changing itself.
        recheck = synced is not None and (synced is not self._synced[0] or len(synced) != self._synced[1])
        if recheck:
            self._synced = (synced, len(synced))
        get = known.get
        for key, op in ops.items():
            entry = get(key)
            if entry is not None and entry[0] == op and (not recheck or entry[2] == (entry[1][2] not in synced)):
                continue
            if entry is not None and entry[2]:
                gone.append(entry[1])
            # Status ops are kept without their id (tracker_state.Op): the outbox derives it.
            shown = op if synced is None else with_id(op)
            sort_key, visible = order_key(shown), synced is None or shown.id not in synced
            known[key] = (op.__copy__(), sort_key, visible)
            if visible:
                added.append((sort_key, b"\n    " + _pretty(_encode(shown), 2) + b","))
        if len(known) != len(ops):  # ops the state no longer holds
            for key in [key for key in known if key not in ops]:
                entry = known.pop(key)
                if entry[2]:
                    gone.append(entry[1])
        self._move(gone, added)

    def _move(self, gone: list[tuple], added: list[tuple[tuple, bytes]]) -> None:
        """Take the pieces of ``gone`` out of the order and put those ``added`` in their places."""
        order, pieces = self._order, self._pieces
        # The usual wake-up moves a few dozen ops: each is placed by bisection (a memmove of the
        # lists); when a good part of them moved (the first pieces made), one merge costs less.
        if len(gone) + len(added) < 64 + len(order) // 4:
            for sort_key in gone:
                at = bisect.bisect_left(order, sort_key)
                del order[at], pieces[at]
            for sort_key, piece in added:
                at = bisect.bisect_left(order, sort_key)
                order.insert(at, sort_key)
                pieces.insert(at, piece)
            return
        dropped = set(gone)
        kept = [pair for pair in zip(order, pieces) if pair[0] not in dropped]
        # Sort keys are unique (an op's id is in its key): pieces are never compared.
        merged = sorted(kept + added, key=_first)
        self._order = [sort_key for sort_key, _ in merged]
        self._pieces = [piece for _, piece in merged]


def _first(pair: tuple) -> tuple:
    return pair[0]


class _LinksMemo:
    """Links are only ever added: the same dict holding as many targets for a task holds the
    same links for it (the dict is kept here, so its identity cannot pass to another one).
    Each task's part is encoded again only when a link was added to it."""

    def __init__(self, links: dict[str, list[Target]]) -> None:
        self.links = links
        self.order: list[str] = []  # task ids, sorted
        # task -> (targets, b'"task":["key",...]', the same formatted for the view or None)
        self.parts: dict[str, tuple[int, bytes, bytes | None]] = {}
        self.count = -1
        self.raw = msgspec.Raw(b"{}")
        self.formatted: bytes | None = None  # the view's part, once asked for

    def encode(self) -> msgspec.Raw:
        """The links as the view shows them: ``{task: [target keys]}`` by task id."""
        count = sum(map(len, self.links.values()))
        if count != self.count:
            parts = self.parts
            for task, targets in self.links.items():
                part = parts.get(task)
                if part is None or part[0] != len(targets):
                    if part is None:
                        bisect.insort(self.order, task)
                    parts[task] = (len(targets), _encode(task) + b":" + _encode([t.key for t in targets]), None)
            self.raw = msgspec.Raw(b"{" + b",".join([parts[task][1] for task in self.order]) + b"}")
            self.count, self.formatted = count, None
        return self.raw

    def pretty(self) -> bytes:
        """:meth:`encode`, formatted as the view's second level (each task's part formatted once)."""
        self.encode()
        if self.formatted is None:
            pieces, parts = [], self.parts
            for task in self.order:
                n, compact, formatted = parts[task]
                if formatted is None:
                    formatted = _pretty(b"{" + compact + b"}", 1)[1:-4]  # b'\n    "task": [...]'
                    parts[task] = (n, compact, formatted)
                pieces.append(formatted)
            self.formatted = b"{" + b",".join(pieces) + b"\n  }" if pieces else b"{}"
        return self.formatted


__all__ = ["TrackerView", "view_bytes"]

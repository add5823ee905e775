"""Group commit for the recorders: the batches queued by concurrent inserts, checked in order
against the view (and against the batches before them), become one conditional append."""
from __future__ import annotations

from typing import Sequence

from eventsourcing.persistence import IntegrityError, StoredEvent, Tracking

from ...events import NewEvent
from . import mapping


class Insert:
    """One insert_events call: its records, its drafts, and (once committed) its outcome."""

    __slots__ = ("app", "purpose", "events", "tracking", "drafts", "seqs", "error", "done")

    def __init__(self, app: str, purpose: str, events: Sequence[StoredEvent], tracking: Tracking | None) -> None:
        self.app, self.purpose, self.events, self.tracking = app, purpose, events, tracking
        self.drafts: list[NewEvent] = [mapping.event_draft(s, app, purpose) for s in events]
        if tracking is not None:
            self.drafts.append(mapping.tracking_draft(tracking, app))
        self.seqs: list[int] = []
        self.error: Exception | None = None
        self.done = False

    def fail(self, error: Exception) -> None:
        self.error, self.done = error, True


class GroupPlan:
    """What one append of a group writes, and what becomes of each insert once it is stored."""

    def __init__(self) -> None:
        self.accepted: list[Insert] = []
        self.refused: list[tuple[Insert, IntegrityError]] = []
        self.drafts: list[NewEvent] = []
        self.expected: dict[str, int] = {}

    def finish(self, receipts: Sequence) -> None:
        """The append stored everything accepted (receipts in draft order): settle every insert."""
        position = 0
        for request in self.accepted:
            request.seqs = [r.seq for r in receipts[position:position + len(request.events)]]
            position += len(request.drafts)
            request.done = True
        for request, error in self.refused:
            request.fail(error)


def plan_group(group: Sequence[Insert], sequences, tracking: dict, stream_versions: dict) -> GroupPlan:
    """Check each insert (in queue order) against the view plus the inserts accepted before it."""
    chosen = GroupPlan()
    added: dict[tuple, set[int]] = {}  # versions the accepted inserts add, per sequence key
    positions: dict[tuple[str, str], int] = {}  # tracking ids the accepted inserts record
    for request in group:
        error = _conflict(request, sequences, tracking, added, positions)
        if error is not None:
            chosen.refused.append((request, error))
            continue
        for s in request.events:
            added.setdefault((request.app, request.purpose, mapping.id_text(s.originator_id)), set()).add(
                s.originator_version)
        if request.tracking is not None:
            positions[(request.app, request.tracking.application_name)] = request.tracking.notification_id
        for draft in request.drafts:
            chosen.expected.setdefault(draft.stream, stream_versions.get(draft.stream, 0))
        chosen.accepted.append(request)
        chosen.drafts.extend(request.drafts)
    return chosen


def _conflict(request: Insert, sequences, tracking: dict, added: dict, positions: dict) -> IntegrityError | None:
    """The library's rules: one event per originator version; tracking ids rise per upstream."""
    seen = set()
    for s in request.events:
        key = (request.app, request.purpose, mapping.id_text(s.originator_id))
        sequence = sequences.get(key)
        version = s.originator_version
        if (key, version) in seen or (sequence and version in sequence.events) or version in added.get(key, ()):
            return IntegrityError(f"originator {s.originator_id} already has version {version}; nothing stored")
        seen.add((key, version))
    t = request.tracking
    if t is not None:
        key = (request.app, t.application_name)
        current = positions.get(key, tracking.get(key))
        if current is not None and t.notification_id <= current:
            return IntegrityError(f"notification {t.notification_id} of {t.application_name!r} is not after "
                                  f"the last one processed ({current}); nothing stored")
    return None

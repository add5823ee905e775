"""The pure core of appending: validate drafts, dedupe by id, check stream versions, assign seqs.

Both stores (file and memory) call :func:`plan`; only what it returns is then written.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

import msgspec

from .codec import check_id, check_name, check_payload, check_timestamp, check_version
from .errors import DuplicateIdError, InvalidEventError, SequenceConflictError
from .events import ENVELOPE_FIELDS, Event, NewEvent, new_event_id, now_timestamp


class Receipt(msgspec.Struct, frozen=True):
    """What an append did with one event.

    status is ``appended`` (stored at ``seq``), ``duplicate`` (its id was already stored at
    ``seq``: nothing written), or ``pending`` (the lock was not free in time: the event is in
    the drop box at ``pending_file``, durably, and will get its seq when ingested).
    """

    id: str
    seq: int | None
    status: str
    stream_version: int | None = None
    pending_file: str | None = None


class Prepared(msgspec.Struct, frozen=True):
    """A validated draft with its id and timestamp fixed."""

    draft: NewEvent
    id_given: bool


def prepare(
    draft: NewEvent | Mapping[str, Any],
    now: Callable[[], str] = now_timestamp,
    minted_id: bool = False,
    minted_timestamp: bool = False,
) -> Prepared:
    """Validate a draft (a NewEvent or a mapping of its fields) and fix its id and timestamp.

    ``minted_id`` / ``minted_timestamp`` say the log itself just made that field, so it needs
    no validation (and a minted id no duplicate check).
    """
    if not isinstance(draft, NewEvent):
        draft = _draft_from_mapping(draft)
    check_name("type", draft.type)
    check_name("source", draft.source)
    check_payload(draft.payload)
    check_version(draft.version)
    for name in ("stream", "correlation_id", "causation_id"):
        if getattr(draft, name) is not None:
            check_name(name, getattr(draft, name))
    _check_expected_version(draft)
    clash = ENVELOPE_FIELDS.intersection(draft.extra)
    if clash:
        raise InvalidEventError(f"extra fields {sorted(clash)} would shadow envelope fields")
    id_given = draft.id is not None and not minted_id
    if id_given:
        check_id(draft.id)
    if draft.timestamp is not None and not minted_timestamp:
        check_timestamp(draft.timestamp)
    if draft.id is not None and draft.timestamp is not None:
        return Prepared(draft, id_given)
    fixed = msgspec.structs.replace(
        draft, id=draft.id if id_given else new_event_id(), timestamp=draft.timestamp or now()
    )
    return Prepared(fixed, id_given)


def _draft_from_mapping(fields: Mapping[str, Any]) -> NewEvent:
    if "payload" in fields:
        check_payload(fields["payload"])
    try:
        return msgspec.convert(dict(fields), NewEvent)
    except msgspec.ValidationError as exc:
        raise InvalidEventError(f"not a valid event: {exc}") from exc


def _check_expected_version(draft: NewEvent) -> None:
    expected = draft.expected_version
    if expected is None:
        return
    if draft.stream is None:
        raise InvalidEventError("expected_version needs a stream to compare against")
    if not isinstance(expected, int) or isinstance(expected, bool) or expected < 0:
        raise InvalidEventError(f"expected_version must be an integer >= 0, got {expected!r}")


def same_event(stored: Event, draft: NewEvent) -> bool:
    """True when a draft reusing a stored id is a retry of that event, not a different one."""
    return (
        stored.type == draft.type
        and stored.source == draft.source
        and stored.stream == draft.stream
        and stored.payload == draft.payload
    )


@dataclass
class Plan:
    """The events to write (seqs assigned) and one receipt per draft, in draft order."""

    events: list[Event] = field(default_factory=list)
    receipts: list[Receipt] = field(default_factory=list)
    conflicts: list[tuple[int, DuplicateIdError]] = field(default_factory=list)


def plan(
    prepared: Iterable[Prepared],
    head_seq: int,
    stored_event: Callable[[str], Event | None],
    stream_version: Callable[[str], int],
    skip_conflicts: bool = False,
) -> Plan:
    """Decide, without I/O, what appending ``prepared`` after ``head_seq`` writes.

    Raises SequenceConflictError (nothing is written: a batch is all or nothing) when a
    stream has moved past its expected version, and DuplicateIdError when an id is reused for
    different content, unless ``skip_conflicts`` collects those instead.
    """
    result = Plan()
    in_batch: dict[str, Event] = {}
    versions: dict[str, int] = {}
    seq = head_seq
    for position, item in enumerate(prepared):
        draft = item.draft
        if item.id_given:
            earlier = in_batch.get(draft.id) or stored_event(draft.id)
            if earlier is not None:
                if not same_event(earlier, draft):
                    error = DuplicateIdError(
                        f"id {draft.id!r} is already stored at seq {earlier.seq} with different "
                        "content; ids must be unique per event"
                    )
                    if not skip_conflicts:
                        raise error
                    result.conflicts.append((position, error))
                    result.receipts.append(Receipt(draft.id, earlier.seq, "conflict"))
                    continue
                result.receipts.append(Receipt(draft.id, earlier.seq, "duplicate"))
                continue
        version = None
        if draft.stream is not None:
            current = versions.get(draft.stream)
            if current is None:
                current = stream_version(draft.stream)
            if draft.expected_version is not None and draft.expected_version != current:
                raise SequenceConflictError(draft.stream, draft.expected_version, current)
            version = versions[draft.stream] = current + 1
        seq += 1
        event = Event(
            seq=seq, id=draft.id, type=draft.type, source=draft.source,
            timestamp=draft.timestamp, version=draft.version, stream=draft.stream,
            correlation_id=draft.correlation_id, causation_id=draft.causation_id,
            payload=draft.payload, extra=draft.extra,
        )
        in_batch[draft.id] = event
        result.events.append(event)
        result.receipts.append(Receipt(draft.id, seq, "appended", version))
    return result

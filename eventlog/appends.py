"""The pure core of appending: validate drafts, dedupe by id, check stream versions, assign seqs.

Both stores (file and memory) call :func:`plan`; only what it returns is then written.
"""
from __future__ import annotations

import os
from typing import Any, Callable, Iterable, Mapping

import msgspec

from .codec import check_id, check_name, check_payload, check_timestamp, check_version
from .errors import DuplicateIdError, InvalidEventError, SequenceConflictError
from .events import ENVELOPE_FIELDS, FORMAT_VERSION, Event, NewEvent, new_event_id, now_timestamp


class Receipt(msgspec.Struct, frozen=True, gc=False):
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


def prepare(draft: NewEvent | Mapping[str, Any]) -> Prepared:
    """Validate a draft (a NewEvent or a mapping of its fields); nothing is written yet.

    A missing id or timestamp is filled in by :func:`plan` when the event gets its seq.
    """
    if not isinstance(draft, NewEvent):
        draft = _draft_from_mapping(draft)
    check_name("type", draft.type)
    check_name("source", draft.source)
    check_payload(draft.payload)
    if draft.version != FORMAT_VERSION:
        check_version(draft.version)
    if draft.stream is not None:
        check_name("stream", draft.stream)
    if draft.correlation_id is not None:
        check_name("correlation_id", draft.correlation_id)
    if draft.causation_id is not None:
        check_name("causation_id", draft.causation_id)
    if draft.expected_version is not None:
        _check_expected_version(draft)
    if draft.extra:
        clash = ENVELOPE_FIELDS.intersection(draft.extra)
        if clash:
            raise InvalidEventError(f"extra fields {sorted(clash)} would shadow envelope fields")
    if draft.id is not None:
        check_id(draft.id)
    if draft.timestamp is not None:
        check_timestamp(draft.timestamp)
    return Prepared(draft, draft.id is not None)


def complete(draft: NewEvent, now: Callable[[], str] = now_timestamp) -> NewEvent:
    """Return the draft with its id minted and its timestamp set, if they were missing."""
    if draft.id is not None and draft.timestamp is not None:
        return draft
    return msgspec.structs.replace(draft, id=draft.id or new_event_id(), timestamp=draft.timestamp or now())


def _draft_from_mapping(fields: Mapping[str, Any]) -> NewEvent:
    # NewEvent(**fields) is twice as fast as msgspec.convert; prepare() checks every type.
    try:
        draft = NewEvent(**fields)
    except TypeError as exc:
        raise InvalidEventError(f"not a valid event: {exc}") from exc
    if not isinstance(draft.extra, dict):
        raise InvalidEventError(f"extra must be a JSON object, got {type(draft.extra).__name__}")
    return draft


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


def _minter(count: int) -> Callable[[], str]:
    """Mint ``count`` 128-bit ids from one read of the random source (much cheaper per id)."""
    pool = os.urandom(16 * count).hex()
    ids = (pool[i : i + 32] for i in range(0, len(pool), 32))
    return lambda: next(ids, None) or new_event_id()


class Plan(msgspec.Struct):
    """The events to write (seqs assigned) and one receipt per draft, in draft order."""

    events: list[Event] = msgspec.field(default_factory=list)
    receipts: list[Receipt] = msgspec.field(default_factory=list)
    conflicts: list[tuple[int, DuplicateIdError]] = msgspec.field(default_factory=list)


def plan(
    prepared: Iterable[Prepared],
    head_seq: int,
    stored_event: Callable[[str], Event | None],
    stream_version: Callable[[str], int],
    skip_conflicts: bool = False,
    mint_id: Callable[[], str] | None = None,
    now: Callable[[], str] = now_timestamp,
) -> Plan:
    """Decide, without I/O, what appending ``prepared`` after ``head_seq`` writes.

    Drafts without an id get one from ``mint_id``; drafts without a timestamp get the batch's
    time from ``now``.

    Raises SequenceConflictError (nothing is written: a batch is all or nothing) when a
    stream has moved past its expected version, and DuplicateIdError when an id is reused for
    different content, unless ``skip_conflicts`` collects those instead.
    """
    prepared = prepared if isinstance(prepared, list) else list(prepared)
    mint_id = mint_id or _minter(sum(1 for p in prepared if not p.id_given))
    result = Plan()
    in_batch: dict[str, Event] = {}
    versions: dict[str, int] = {}
    seq = head_seq
    stamp = None
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
        timestamp = draft.timestamp
        if timestamp is None:
            timestamp = stamp = stamp or now()
        event = Event(
            seq=seq, id=draft.id if item.id_given else mint_id(), type=draft.type, source=draft.source,
            timestamp=timestamp, version=draft.version, stream=draft.stream,
            correlation_id=draft.correlation_id, causation_id=draft.causation_id,
            payload=draft.payload, extra=draft.extra,
        )
        if item.id_given:
            in_batch[event.id] = event
        result.events.append(event)
        result.receipts.append(Receipt(event.id, seq, "appended", version))
    return result

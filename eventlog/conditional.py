"""Conditional batches: a batch that is stored only if several streams are each at a given version.

``FileEventLog.append_many(drafts, expected_versions={stream: version})`` checks every named
stream under the log lock, against the index caught up to the log's head, before anything is
written; one mismatch and nothing of the batch is stored (StreamsConflictError names them all).
A stream may be named without the batch writing to it: the condition then only guards it, which
is how a writer makes "nobody else recorded this" part of an append. A per-draft
``expected_version`` still works inside the same batch and is checked by :func:`plan` as before.
"""
from __future__ import annotations

from typing import Callable, Mapping

from .codec import check_name
from .errors import InvalidEventError, StreamsConflictError


def check_expected_versions(expected: Mapping[str, int]) -> dict[str, int]:
    """Validate a ``{stream: version}`` condition (names as for streams, versions ints >= 0)."""
    checked: dict[str, int] = {}
    for stream, version in expected.items():
        check_name("stream", stream)
        if not isinstance(version, int) or isinstance(version, bool) or version < 0:
            raise InvalidEventError(f"expected version of stream {stream!r} must be an integer >= 0, got {version!r}")
        checked[stream] = version
    return checked


def enforce_expected_versions(expected: Mapping[str, int], stream_version: Callable[[str], int]) -> None:
    """Raise StreamsConflictError unless every named stream is at its expected version now.

    The caller holds the log lock, so "now" stays true until its batch is written.
    """
    conflicts = {}
    for stream, version in expected.items():
        actual = stream_version(stream)
        if actual != version:
            conflicts[stream] = (version, actual)
    if conflicts:
        raise StreamsConflictError(conflicts)

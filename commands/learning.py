"""The learning loop's write side: suggestions from the outcomes projection, applied only once approved.

`suggest` appends each due `governance.suggestion` at version 0 of its own stream
`suggestion-<id>` (its id is derived from what it suggests, so it is made once) and opens its
approval; `apply` appends `governance.suggestion_applied` at version 1 of that stream for
each suggestion whose approval was granted. The outcomes projection takes an applied
suggestion into `.loki/state/outcomes/applied.json` only when it saw the grant.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from eventlog import FileEventLog, SequenceConflictError
from projections.engine import catch_up, state_at
from projections.outcomes import OutcomesProjection, OutcomesState
from projections.outcomes.rules import due_suggestions
from projections.outcomes.state import APPROVED, PROPOSED

from .policy.approval_requests import request_once

SOURCE = "learning"
APPROVAL_TIMEOUT = 7 * 86_400  # a week: a suggestion waits for a person, not the other way round


def suggestion_stream(suggestion_id: str) -> str:
    return f"suggestion-{suggestion_id}"


def outcomes(loki: Path) -> OutcomesState:
    """The outcomes projection caught up (its views written)."""
    return catch_up(loki, OutcomesProjection()).state


def read_outcomes(loki: Path) -> tuple[OutcomesState, OSError | None]:
    """The outcomes state, caught up where its files can be written, else folded in memory (and why)."""
    try:
        return outcomes(loki), None
    except OSError as error:  # a read-only .loki/: reading must still work
        return state_at(loki, OutcomesProjection()).state, error


def suggest(loki: Path) -> list[dict[str, Any]]:
    """Record every due suggestion and open its approval; return the ones recorded now."""
    state, _ = read_outcomes(loki)
    made = []
    with FileEventLog(loki) as log:
        for suggestion in due_suggestions(state):
            payload = {"action": "suggestion", **{k: v for k, v in suggestion.items() if k != "id"}}
            try:
                log.append("governance", SOURCE, payload, id=suggestion["id"],
                           stream=suggestion_stream(suggestion["id"]), expected_version=0)
            except SequenceConflictError:
                continue  # made by another process since we looked
            made.append(suggestion)
        pending = [s for s in state.suggestions.values() if s["status"] == PROPOSED] + made
        for suggestion in pending:  # also the ones whose approval a crash kept from being opened
            request_once(log, suggestion["approval_id"], point="learning", rule="governance.suggestion",
                         reason=suggestion.get("reason"), timeout_seconds=APPROVAL_TIMEOUT, source=SOURCE,
                         context={k: suggestion.get(k) for k in ("id", "kind", "gate", "key", "value")},
                         causation_id=suggestion["id"])
    if made:
        outcomes(loki)
    return made


def apply_granted(loki: Path) -> list[dict[str, Any]]:
    """Record `governance.suggestion_applied` for every granted suggestion not yet applied."""
    state, _ = read_outcomes(loki)
    applied = []
    with FileEventLog(loki) as log:
        for suggestion in sorted(state.suggestions.values(), key=lambda s: s["seq"]):
            if suggestion["status"] != APPROVED:
                continue
            payload = {"action": "suggestion_applied", "suggestion_id": suggestion["id"],
                       **{k: suggestion.get(k) for k in ("kind", "gate", "key", "value", "approval_id")}}
            try:
                log.append("governance", SOURCE, payload, id=f"{suggestion['id']}-applied",
                           stream=suggestion_stream(suggestion["id"]), expected_version=1,
                           causation_id=suggestion["id"])
            except SequenceConflictError:
                continue
            applied.append(suggestion)
    if applied:
        outcomes(loki)
    return applied

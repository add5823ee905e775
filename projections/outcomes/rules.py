"""The learning rules: when a pattern in the outcomes state becomes a suggestion. Pure.

1. **Mark a gate flaky** when, re-evaluated within the same run, it flipped from REJECT to PASS
   at least ``FLAKY_MIN_FLIPS`` times and in at least ``FLAKY_MIN_RATIO`` of its rejections.
   Applied, healing treats that gate's failures as transient (retry, not rollback).
2. **Raise the quality gate's coverage threshold** when, of at least ``ESCAPE_MIN_RUNS`` ended
   runs that passed the `quality` gate, at least ``ESCAPE_MIN_RATE`` still ended as failure or
   partial (defects escaped the gate): ``min_coverage`` goes up by ``COVERAGE_STEP`` from the
   value in force (the last applied override, else ``COVERAGE_BASE``), at most
   ``COVERAGE_CAP``. Applying it restarts the count, so each step needs fresh evidence.

A suggestion's id is derived from what it suggests (kind, gate, key, value), so it is made at
most once; one already made (whatever became of it) is never due again.
"""
from __future__ import annotations

import hashlib
from typing import Any

from .state import OutcomesState, rate

FLAKY_MIN_FLIPS = 3
FLAKY_MIN_RATIO = 0.5
ESCAPE_MIN_RUNS = 5
ESCAPE_MIN_RATE = 0.3
COVERAGE_GATE, COVERAGE_KEY = "quality", "min_coverage"
COVERAGE_BASE, COVERAGE_STEP, COVERAGE_CAP = 80, 5, 95


def suggestion_id(kind: str, gate: str, key: str | None, value: Any) -> str:
    digest = hashlib.sha256(f"{kind}\x1f{gate}\x1f{key}\x1f{value!r}".encode()).hexdigest()[:24]
    return f"sug-{digest}"


def due_suggestions(state: OutcomesState) -> list[dict[str, Any]]:
    """Every suggestion the rules make for ``state`` that was not made before, in a stable order."""
    found = _flaky(state) + _coverage(state)
    return [s for s in found if s["id"] not in state.suggestions]


def _flaky(state: OutcomesState) -> list[dict[str, Any]]:
    out = []
    for gate in sorted(state.flips):
        flips = state.flips[gate]
        ratio = rate(flips["flips"], flips["rejects"]) or 0.0
        if gate in state.flaky_gates or flips["flips"] < FLAKY_MIN_FLIPS or ratio < FLAKY_MIN_RATIO:
            continue
        out.append(_make("mark_flaky", gate, None, True, "flaky-gate",
                         f"{gate} flipped REJECT->PASS {flips['flips']} times in {flips['rejects']} rejections",
                         {"flips": flips["flips"], "rejects": flips["rejects"], "flip_rate": ratio}))
    return out


def _coverage(state: OutcomesState) -> list[dict[str, Any]]:
    tally = state.escapes.get(COVERAGE_GATE)
    if tally is None or tally["runs"] < ESCAPE_MIN_RUNS:
        return []
    escape = rate(tally["escaped"], tally["runs"]) or 0.0
    current = state.overrides.get(f"{COVERAGE_GATE}|{COVERAGE_KEY}", {}).get("value", COVERAGE_BASE)
    target = min(COVERAGE_CAP, current + COVERAGE_STEP)
    if escape < ESCAPE_MIN_RATE or target <= current:
        return []
    return [_make("raise_threshold", COVERAGE_GATE, COVERAGE_KEY, target, "coverage-escapes",
                  f"{tally['escaped']} of {tally['runs']} runs that passed {COVERAGE_GATE} still failed; "
                  f"raise {COVERAGE_KEY} {current} -> {target}",
                  {"runs": tally["runs"], "escaped": tally["escaped"], "escape_rate": escape, "from": current})]


def _make(kind: str, gate: str, key: str | None, value: Any, rule: str, reason: str,
          evidence: dict[str, Any]) -> dict[str, Any]:
    sid = suggestion_id(kind, gate, key, value)
    return {"id": sid, "kind": kind, "gate": gate, "key": key, "value": value, "rule": rule, "reason": reason,
            "evidence": evidence, "approval_id": f"apr-{sid}"}

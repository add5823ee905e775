"""The vocabulary of the gate pipeline: modes, gates, levels, verdicts and one gate's result. Pure."""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from eventlog import InvalidEventError

#: Modes, from the most lenient to the strictest: every mode-dependent setting must be at least
#: as strict in a later mode as in an earlier one (the loader checks it).
MODES = ("dev", "staging", "prod")

#: The nine built-in gates: the reference's four named gates, then our five context gates.
GATES = ("security", "quality", "operations", "plan_approval", "tenant", "consensus", "policy", "budget",
         "residency")

#: Gates whose violation is a REJECT in every mode and is never downgraded as flaky: identity,
#: isolation between tenants and where data may go are not matters of taste (fail closed).
HARD_GATES = frozenset({"security", "tenant", "residency"})


class GovernanceConfigError(InvalidEventError):
    """governance.yaml (or a learned override) is malformed or not monotone in strictness (exit 2)."""


class Level(enum.IntEnum):
    """What a gate's check found, before the mode turns it into a verdict."""

    OK = 0
    CONCERN = 1    # something a person should look at (an unapproved plan, a missing figure)
    VIOLATION = 2  # a rule is broken


class Verdict(str, enum.Enum):
    """A gate's answer; the value is what the log records."""

    PASS = "PASS"
    PAUSE = "PAUSE"
    REJECT = "REJECT"

    @property
    def rank(self) -> int:
        return _RANK[self]

    @classmethod
    def parse(cls, text: str) -> "Verdict":
        return cls(str(text).strip().upper())


_RANK = {Verdict.PASS: 0, Verdict.PAUSE: 1, Verdict.REJECT: 2}


def strictest(verdicts) -> Verdict:
    """The strictest of ``verdicts`` (PASS for none)."""
    return max(verdicts, key=lambda v: v.rank, default=Verdict.PASS)


@dataclass(frozen=True, slots=True)
class Finding:
    """What one gate's pure check says: a level, the reasons, and the seqs of the events it read."""

    level: Level
    reasons: tuple[str, ...]
    inputs: tuple[int, ...] = ()
    facts: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class GateResult:
    """One gate evaluated in one mode: its verdict and why."""

    gate: str
    verdict: Verdict
    level: Level
    reasons: tuple[str, ...]
    inputs: tuple[int, ...] = ()
    facts: dict[str, Any] = field(default_factory=dict)
    downgraded: str | None = None   # "flaky": a REJECT turned into a PAUSE
    approved_by: str | None = None  # an approval in this run turned its PAUSE into a PASS

    def to_payload(self, mode: str, limit: int = 32) -> dict[str, Any]:
        """The ``governance.gate_evaluated`` payload (the seqs capped at ``limit``, the newest kept)."""
        seqs = sorted(set(self.inputs))
        payload: dict[str, Any] = {
            "gate": self.gate, "verdict": self.verdict.value, "level": self.level.name.lower(),
            "reasons": list(self.reasons), "mode": mode, "inputs": seqs[-limit:],
        }
        if len(seqs) > limit:
            payload["inputs_omitted"] = len(seqs) - limit
        if self.facts:
            payload["facts"] = self.facts
        if self.downgraded:
            payload["downgraded"] = self.downgraded
        if self.approved_by:
            payload["approved_by"] = self.approved_by
        return payload

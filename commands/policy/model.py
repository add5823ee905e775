"""The vocabulary of the policy engine: points, decisions, verdicts and a compiled policy set."""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol

from eventlog.redaction.secrets import Finding

#: The enforcement points and the context fields their built-in rules read.
POINTS: dict[str, tuple[str, ...]] = {
    "pre_execution": ("file_path", "project_dir", "active_agents"),
    "pre_deployment": ("passed_gates",),
    "resource": ("provider", "tokens_consumed"),
    "data": ("content",),
}


class Decision(str, enum.Enum):
    """What a policy check decides; the value is what the log records."""

    ALLOW = "allow"
    REQUIRE_APPROVAL = "require_approval"
    DENY = "deny"

    @property
    def strictness(self) -> int:
        return _STRICTNESS[self]


_STRICTNESS = {Decision.ALLOW: 0, Decision.REQUIRE_APPROVAL: 1, Decision.DENY: 2}


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one rule says about a context when it objects (or, for budgets, warns)."""

    decision: Decision
    reason: str
    findings: tuple[Finding, ...] = ()
    alerts: tuple[int, ...] = ()


class Rule(Protocol):
    """A compiled policy: ``check`` is pure and returns None when the rule has nothing to say."""

    name: str

    def check(self, context: Mapping[str, Any]) -> Outcome | None: ...


@dataclass(frozen=True, slots=True)
class Verdict:
    """The decision at one enforcement point and the rule that decided it (None: no rule objected)."""

    decision: Decision
    point: str
    rule: str | None
    reason: str
    findings: tuple[Finding, ...] = ()
    alerts: tuple[int, ...] = ()

    @property
    def allowed(self) -> bool:
        return self.decision is Decision.ALLOW

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "decision": self.decision.value, "point": self.point, "rule": self.rule, "reason": self.reason,
        }
        if self.findings:
            out["findings"] = [f.to_dict() for f in self.findings]
        if self.alerts:
            out["alerts"] = list(self.alerts)
        return out


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    """Where to POST approval requests; the HMAC secret is read from an environment variable."""

    url: str
    secret_env: str | None = None
    timeout_seconds: float = 5.0
    retries: int = 2


@dataclass(frozen=True, slots=True)
class ApprovalSettings:
    """How long an approval may stay pending and what happens then."""

    timeout_seconds: float = 3600.0
    on_timeout: str = "deny"
    webhook: WebhookSettings | None = None


@dataclass(frozen=True, slots=True)
class PolicySet:
    """A validated, compiled policy file: rules per point, in file order."""

    points: Mapping[str, tuple[Rule, ...]]
    approvals: ApprovalSettings = field(default_factory=ApprovalSettings)
    source: str = "<memory>"
    digest: str = ""

"""The documented defaults of `.loki/governance.yaml`: what a project without the file gets.

Every value here is also the reference of docs/GOVERNANCE.md. A setting given as a mapping
``{dev: ..., staging: ..., prod: ...}`` is per mode; a plain value holds in every mode.
"""
from __future__ import annotations

from .model import GATES

#: Gate order per mode. Dev puts the cheap machine checks first and the human ones last, for
#: fast feedback; prod follows the reference's sequence (security, quality, operations, plan
#: approval, then the context gates). A mode's `order` in the file lists gates to put first; the
#: gates it leaves out follow in this default order, so every gate runs in every mode.
ORDER = {
    "dev": ("security", "policy", "tenant", "residency", "budget", "quality", "operations", "consensus",
            "plan_approval"),
    "staging": ("security", "tenant", "residency", "quality", "operations", "policy", "budget", "consensus",
                "plan_approval"),
    "prod": GATES,
}

#: How a mode turns a gate's finding into a verdict (a gate may override it per mode).
STRICTNESS = {
    "dev": {"on_concern": "pass", "on_violation": "pause"},
    "staging": {"on_concern": "pause", "on_violation": "reject"},
    "prod": {"on_concern": "pause", "on_violation": "reject"},
}

#: Seconds a PAUSE waits for `approval.granted` before it becomes a REJECT.
APPROVAL_TIMEOUT_SECONDS = 3600.0

GATE_SETTINGS: dict[str, dict] = {
    "security": {
        # Token roles (commands/serve/tokens.py ROLES) and the modes each may run in.
        "roles": {"admin": ["dev", "staging", "prod"], "operator": ["dev", "staging", "prod"],
                  "auditor": [], "viewer": []},
        # Event sources allowed to run without a token, per mode ("*": any source).
        "sources": {"dev": ["*"], "staging": ["cli", "runner"], "prod": []},
    },
    "quality": {
        "min_coverage": 80,        # percent, the reference's figure
        "max_lint_errors": 0,
        "require_coverage": {"dev": False, "staging": True, "prod": True},
        "coverage_gates": ["coverage"],
        "lint_gates": ["lint"],
    },
    "operations": {
        "audit": "chain",          # chain: hashes and links; full: also every entry against its event; off
        "window": 20,              # the last N task outcomes are "recent"
        "rollback_cap": 3,         # this many rollbacks in the window count as a full 1.0
        "weights": {"failure_rate": 0.5, "rollbacks": 0.3, "budget_burn": 0.2},
        "max_risk": {"dev": 0.8, "staging": 0.6, "prod": 0.4},
    },
    "plan_approval": {},
    "tenant": {
        "owners": {},              # tenant -> resource patterns it owns (fnmatch)
        "unowned": "ok",           # a touched resource no tenant owns: ok, concern or violation
    },
    "consensus": {
        "reviewers": [],           # M: the reviewers whose votes count (empty: whoever voted)
        "required": {"dev": 0, "staging": 1, "prod": 2},  # N
    },
    "policy": {
        "checks": [{"point": "pre_deployment", "context": {}}],
    },
    "budget": {
        "max_percent": 100,        # spend above this percent of a budget's limit breaks it
    },
    "residency": {},
}

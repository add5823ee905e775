"""Governance gates: nine gates between a run and its execution, each answering PASS, PAUSE or REJECT.

``model`` (modes, gates, verdicts), ``defaults`` and ``config`` (`.loki/governance.yaml`),
``checks`` (its type checks), ``overrides`` (learned overrides), ``facts`` (the one fold of the
log the gates read), ``inputs`` and ``gather`` (everything an evaluation reads, gathered first),
``risk`` (the operational risk score), ``gates_core`` and ``gates_context`` (the nine pure
checks), ``evaluate`` (pure, mode-aware evaluation), ``pipeline`` (record, pause, resume) and
``runs`` (the runs folded from their events). See docs/GOVERNANCE.md.
"""
from .config import GovernanceConfig, GovernanceConfigError
from .model import GATES, MODES, GateResult, Level, Verdict

__all__ = ["GATES", "MODES", "GateResult", "GovernanceConfig", "GovernanceConfigError", "Level", "Verdict"]

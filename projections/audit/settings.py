"""Audit settings from the environment (the reference system's variable names). Pure."""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from eventlog.config import positive_number

from .entry import Selection

DEFAULT_MAX_SIZE_MB = 10.0
DEFAULT_MAX_FILES = 10
_TRUE = ("1", "true", "yes", "on")


@dataclass(frozen=True)
class AuditSettings:
    """How the chain is written: which events, rotation bounds, and whether it is on at all."""

    disabled: bool = False
    max_bytes: int = int(DEFAULT_MAX_SIZE_MB * 1024 * 1024)
    max_files: int = DEFAULT_MAX_FILES
    selection: Selection = field(default_factory=Selection)
    lock_timeout: float = 10.0

    def fold_key(self) -> str:
        """What the audit folds depend on besides the log: which events are audited."""
        return f"audits {self.selection.include!r} minus {self.selection.exclude!r}"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> AuditSettings:
        """Read LOKI_AUDIT_DISABLED, _MAX_SIZE_MB, _MAX_FILES, _EVENTS and _EXCLUDE."""
        env = os.environ if env is None else env
        return cls(
            disabled=env.get("LOKI_AUDIT_DISABLED", "").strip().lower() in _TRUE,
            max_bytes=int(positive_number(env, "LOKI_AUDIT_MAX_SIZE_MB", DEFAULT_MAX_SIZE_MB, float) * 1024 * 1024),
            max_files=positive_number(env, "LOKI_AUDIT_MAX_FILES", DEFAULT_MAX_FILES, int),
            selection=Selection.parse(env.get("LOKI_AUDIT_EVENTS"), env.get("LOKI_AUDIT_EXCLUDE")),
        )

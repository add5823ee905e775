"""Every subscriber lokilog runs, gated by environment variables: none set, nothing imported."""
from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path


def enabled_subscribers(loki_dir: Path, env: Mapping[str, str] | None = None) -> list:
    """Return fresh instances of the subscribers whose environment variables are set."""
    env = os.environ if env is None else env
    found: list = []
    if env.get("LOKI_AUDIT_SYSLOG_HOST", "").strip():
        from projections.audit.settings import AuditSettings
        from subscribers.syslog import SyslogForwarder, SyslogSettings

        audit = AuditSettings.from_env(env)
        if not audit.disabled:
            found.append(SyslogForwarder(Path(loki_dir), SyslogSettings.from_env(env), audit))
    return found

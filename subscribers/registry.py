"""Every subscriber lokilog may run, and which of them are enabled for a `.loki/`.

The watch daemon asks :func:`enabled_subscribers` and drains each with its durable cursor.
A subscriber that is not enabled costs nothing: no import, no thread, no disk I/O. Each is
gated by environment variables or by its configuration file, as in the reference system.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

from eventlog import settings_files

from .endpoints import OTEL_ENDPOINT_VARIABLES  # read here, so that without them nothing of otel loads

_OFF = ("0", "false", "no", "off")
_ON = ("1", "true", "yes", "on")


def enabled_subscribers(loki_dir: Path, env: Mapping[str, str] | None = None) -> list:
    """Return fresh instances of the subscribers enabled by `.loki/` files and the environment."""
    env = os.environ if env is None else env
    found: list = []
    found += _audit_syslog(Path(loki_dir), env)
    found += _cost_alerts(Path(loki_dir), env)
    found += _trackers(Path(loki_dir), env)
    found += _otel(Path(loki_dir), env)
    found += _healing(Path(loki_dir), env)
    return found


def _audit_syslog(loki_dir: Path, env: Mapping[str, str]) -> list:
    if not env.get("LOKI_AUDIT_SYSLOG_HOST", "").strip():
        return []
    from projections.audit.settings import AuditSettings
    from subscribers.syslog import SyslogForwarder, SyslogSettings

    audit = AuditSettings.from_env(env)
    if audit.disabled:
        return []
    return [SyslogForwarder(loki_dir, SyslogSettings.from_env(env), audit)]


def _cost_alerts(loki_dir: Path, env: Mapping[str, str]) -> list:
    if env.get("LOKI_COST_ALERTS", "1").lower() in _OFF:
        return []
    if not settings_files.present(loki_dir, "policies"):
        return []
    from projections.cost.config import load_budgets

    if not load_budgets(loki_dir):
        return []
    from .cost_alerts import BudgetAlerts

    return [BudgetAlerts(loki_dir)]


def _trackers(loki_dir: Path, env: Mapping[str, str]) -> list:
    if not settings_files.present(loki_dir, "config"):
        return []
    from .trackers.config import load_trackers

    trackers = load_trackers(loki_dir)
    if not trackers:
        return []
    from .trackers.sync import TrackerSync

    return [TrackerSync(loki_dir, config, env) for config in trackers.values()]


def _otel(loki_dir: Path, env: Mapping[str, str]) -> list:
    if not any(env.get(name, "").strip() for name in OTEL_ENDPOINT_VARIABLES):
        return []
    from .otel.exporter import OtelExporter
    from .otel.settings import OtelSettings

    return [OtelExporter(loki_dir, OtelSettings.from_env(env, loki_dir))]


def _healing(loki_dir: Path, env: Mapping[str, str]) -> list:
    # LOKI_HEALING=1 turns it on, =0 off; unset, a governance file turns it on.
    value = env.get("LOKI_HEALING", "").strip().lower()
    if value in _OFF or (value not in _ON and not settings_files.present(loki_dir, "governance")):
        return []
    from .healing.manager import HealingManager
    from .healing.settings import from_env

    return [HealingManager(loki_dir, from_env(env))]

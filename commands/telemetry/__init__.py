"""Telemetry consent: the one opt-out for all telemetry and the one-time first-run disclosure (`consent`)."""
from .consent import (
    TelemetryStatus, config_path, disclosure_shown, enabled, read_config, set_config, set_enabled,
    show_disclosure_once, status, take_disclosure,
)

__all__ = ["TelemetryStatus", "config_path", "disclosure_shown", "enabled", "read_config", "set_config",
           "set_enabled", "show_disclosure_once", "status", "take_disclosure"]

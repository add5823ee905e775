"""Telemetry consent: the one opt-out for all telemetry and the one-time first-run disclosure (`consent`)."""

"""The one opt-out for all telemetry, and the one-time first-run disclosure.

Collection is off when any of these says so (checked in this order, first match wins):
``LOKI_TELEMETRY=off`` (also ``0``, ``false``, ``no``, ``disabled``), ``LOKI_TELEMETRY_DISABLED=true``
(also ``1``, ``yes``), ``DO_NOT_TRACK`` set to anything but empty or ``0``, or
``TELEMETRY_DISABLED=true`` in ``~/.loki/config`` (what ``lokilog telemetry off`` writes).

``~/.loki/config`` is Loki Mode's global shell-style config (``KEY=value`` lines, read by its
run.sh): lokilog changes only its own two keys and keeps every other line as it was. The
disclosure flag ``DISCLOSURE_SHOWN=true`` is separate from the opt-out, so turning telemetry
off or on never shows the disclosure again.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from eventlog.fsutil import atomic_write

DISABLED_KEY = "TELEMETRY_DISABLED"
DISCLOSURE_KEY = "DISCLOSURE_SHOWN"
_MAX_CONFIG_BYTES = 1024 * 1024

DISCLOSURE = """\
lokilog records crashes of its own (and `error` events your tools emit) as scrubbed local
reports in .loki/crash/: error type, symbol names of the top stack frames, os, arch, versions.
Never your code, prompts, paths, keys or repository names. Nothing leaves this machine unless
you run `lokilog crash submit` with LOKI_CRASH_ENDPOINT set. Details: docs/PRIVACY.md.
Turn it all off with: lokilog telemetry off   (or LOKI_TELEMETRY=off, or DO_NOT_TRACK=1)"""


@dataclass(frozen=True)
class TelemetryStatus:
    """Whether collection is on, and which switch decided it."""

    enabled: bool
    reason: str


def config_path(env: Mapping[str, str] | None = None) -> Path:
    """``~/.loki/config`` of the current user (``$HOME`` first, so tests and sandboxes can move it)."""
    env = os.environ if env is None else env
    home = env.get("HOME") or str(Path.home())
    return Path(home) / ".loki" / "config"


def read_config(path: Path) -> dict[str, str]:
    """Parse ``KEY=value`` lines (``export``, quotes and comments allowed); a missing file is empty."""
    values: dict[str, str] = {}
    for line in _lines(path):
        key, value = _parse(line)
        if key:
            values[key] = value
    return values


def _lines(path: Path) -> list[str]:
    try:
        with open(path, "rb") as handle:
            data = handle.read(_MAX_CONFIG_BYTES)
    except (FileNotFoundError, NotADirectoryError, PermissionError, IsADirectoryError):
        return []
    return data.decode("utf-8", "replace").splitlines()


def _parse(line: str) -> tuple[str | None, str]:
    text = line.strip()
    if not text or text.startswith("#") or "=" not in text:
        return None, ""
    if text.startswith("export "):
        text = text[len("export "):].lstrip()
    key, _, value = text.partition("=")
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        value = value[1:-1]
    return key.strip(), value


def set_config(path: Path, key: str, value: str | None) -> None:
    """Set (or with ``None`` remove) one key, keeping every other line; written atomically."""
    lines = [line for line in _lines(path) if _parse(line)[0] != key]
    if value is not None:
        lines.append(f"{key}={value}")
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, "".join(line + "\n" for line in lines).encode())


def _truthy(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes", "on")


def status(env: Mapping[str, str] | None = None, config: Mapping[str, str] | None = None) -> TelemetryStatus:
    """Decide whether telemetry (crash capture and any sending) is on."""
    env = os.environ if env is None else env
    if env.get("LOKI_TELEMETRY", "").strip().lower() in ("off", "0", "false", "no", "disabled"):
        return TelemetryStatus(False, "LOKI_TELEMETRY=off")
    if _truthy(env.get("LOKI_TELEMETRY_DISABLED", "")):
        return TelemetryStatus(False, "LOKI_TELEMETRY_DISABLED=true")
    if env.get("DO_NOT_TRACK", "").strip() not in ("", "0"):
        return TelemetryStatus(False, "DO_NOT_TRACK=1")
    config = read_config(config_path(env)) if config is None else config
    if _truthy(config.get(DISABLED_KEY, "")):
        return TelemetryStatus(False, f"{DISABLED_KEY}=true in {config_path(env)}")
    return TelemetryStatus(True, "on (the default)")


def enabled(env: Mapping[str, str] | None = None) -> bool:
    """Return whether telemetry is on; any doubt (an unreadable config) counts as on only if no switch says off."""
    return status(env).enabled


def set_enabled(on: bool, env: Mapping[str, str] | None = None) -> Path:
    """Persist the opt-out (``lokilog telemetry off``) or remove it (``on``); return the config file."""
    path = config_path(env)
    set_config(path, DISABLED_KEY, None if on else "true")
    return path


def disclosure_shown(env: Mapping[str, str] | None = None) -> bool:
    return _truthy(read_config(config_path(env)).get(DISCLOSURE_KEY, ""))


def take_disclosure(env: Mapping[str, str] | None = None) -> str | None:
    """Return the disclosure text the first time only (the flag is stored first); None afterwards.

    Storing before showing means a disclosure is never shown twice, even if printing fails;
    if the flag cannot be stored the text is not shown either, so it cannot repeat forever.
    """
    if disclosure_shown(env):
        return None
    try:
        set_config(config_path(env), DISCLOSURE_KEY, "true")
    except OSError:
        return None
    return DISCLOSURE


def show_disclosure_once() -> None:
    """Print the one-time disclosure on the first interactive run; never raises."""
    try:
        if sys.stderr.isatty():
            text = take_disclosure()
            if text:
                sys.stderr.write(text + "\n\n")
    except Exception:  # noqa: BLE001 - a disclosure must never stop a command
        pass

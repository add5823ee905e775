"""Tracker configuration: the `trackers:` section of `.loki/config.yaml`, credentials from the environment.

A tracker is enabled only when its section exists (and does not say ``enabled: false``). The
file names the *environment variables* that hold credentials, never the credentials: secrets
are read from the environment at run time and never written to a file, a log line or an event.
"""
from __future__ import annotations

import ipaddress
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from eventlog import settings_files
from eventlog.errors import SettingsFileError

from .errors import TrackerConfigError

#: Task states (and ``phase.<PHASE>`` while in progress) -> each tracker's state names.
DEFAULT_STATUS_MAPS: dict[str, dict[str, str]] = {
    "jira": {"created": "To Do", "claimed": "In Progress", "started": "In Progress", "completed": "Done"},
    "linear": {"created": "Todo", "claimed": "In Progress", "started": "In Progress", "completed": "Done"},
    "github": {"created": "pending", "claimed": "pending", "started": "pending",
               "completed": "success", "failed": "failure"},
}
DEFAULT_URLS = {
    "jira": None,  # every Jira Cloud site has its own URL: https://<site>.atlassian.net
    "linear": "https://api.linear.app/graphql",
    "github": "https://api.github.com",
}
#: Environment variables read for credentials unless the config names others.
DEFAULT_ENV = {
    "jira": {"email_env": "JIRA_EMAIL", "token_env": "JIRA_API_TOKEN", "webhook_secret_env": "JIRA_WEBHOOK_SECRET"},
    "linear": {"token_env": "LINEAR_API_KEY", "webhook_secret_env": "LINEAR_WEBHOOK_SECRET"},
    "github": {"token_env": "GITHUB_TOKEN", "webhook_secret_env": "GITHUB_WEBHOOK_SECRET"},
}
_GITHUB_STATES = {"pending", "success", "failure", "error"}


@dataclass(frozen=True)
class RetryPolicy:
    """Per-op retries within one drain, and attempts across drains before giving up."""

    max_retries: int = 3
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_attempts: int = 5
    timeout: float = 10.0
    max_response_bytes: int = 10 * 1024 * 1024  # the reference client's 10 MB cap


@dataclass(frozen=True)
class TrackerConfig:
    name: str
    base_url: str
    status_map: dict[str, str]
    comments: bool = True
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    env_names: dict[str, str] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)

    def secret(self, role: str, env: Mapping[str, str]) -> str | None:
        """Return the credential for ``role`` (token, email, webhook_secret) from ``env``."""
        name = self.env_names.get(f"{role}_env")
        value = env.get(name) if name else None
        return value or None

    def require(self, role: str, env: Mapping[str, str]) -> str:
        value = self.secret(role, env)
        if value is None:
            raise TrackerConfigError(
                f"{self.name}: set the environment variable {self.env_names.get(f'{role}_env')} "
                f"(the {role.replace('_', ' ')})"
            )
        return value

    def map_status(self, value: str) -> str | None:
        """Map a desired task status (``started`` or ``started:VERIFY``) to this tracker's state."""
        state, _, phase = value.partition(":")
        if phase and f"phase.{phase}" in self.status_map:
            return self.status_map[f"phase.{phase}"]
        return self.status_map.get(state)


def load_trackers(loki_dir: Path) -> dict[str, TrackerConfig]:
    """Return the enabled trackers of `.loki/config.yaml` (none without the file or section)."""
    try:
        path = settings_files.find(Path(loki_dir), "config")
        if path is None:
            return {}
        text = settings_files.read_text(path)
        if "trackers" not in text:  # most projects: no YAML parsing at all
            return {}
        document = settings_files.parse(path, text)
    except FileNotFoundError:
        return {}
    except SettingsFileError as exc:
        raise TrackerConfigError(str(exc)) from exc
    return parse_trackers(document.get("trackers"), str(path))


def parse_trackers(section: Any, where: str = "trackers") -> dict[str, TrackerConfig]:
    """Validate a `trackers:` mapping and return the enabled trackers by name."""
    if section is None:
        return {}
    if not isinstance(section, dict):
        raise TrackerConfigError(f"{where}: `trackers` must be a mapping")
    defaults = _retry(section.get("defaults") or {}, RetryPolicy(), f"{where}: trackers.defaults")
    found = {}
    for name, body in section.items():
        if name == "defaults":
            continue
        if name not in DEFAULT_STATUS_MAPS:
            raise TrackerConfigError(f"{where}: unknown tracker {name!r} (jira, linear or github)")
        body = body or {}
        if not isinstance(body, dict):
            raise TrackerConfigError(f"{where}: trackers.{name} must be a mapping")
        if body.get("enabled", True) is False:
            continue
        found[name] = _tracker(name, body, defaults, f"{where}: trackers.{name}")
    return found


def _tracker(name: str, body: dict, defaults: RetryPolicy, where: str) -> TrackerConfig:
    base_url = body.get("base_url") or DEFAULT_URLS[name]
    if not isinstance(base_url, str) or not base_url.startswith(("https://", "http://")):
        raise TrackerConfigError(f"{where}.base_url must be an http(s) URL, got {base_url!r}")
    if base_url.startswith("http://") and not _loopback(base_url):
        # Every tracker call carries a token: in clear text only to this machine.
        raise TrackerConfigError(f"{where}.base_url must be https:// (http:// only to this machine), got {base_url!r}")
    status_map = dict(DEFAULT_STATUS_MAPS[name])
    overrides = body.get("status_map") or {}
    if not isinstance(overrides, dict) or not all(isinstance(v, (str, type(None))) for v in overrides.values()):
        raise TrackerConfigError(f"{where}.status_map must map task states to state names")
    status_map.update({str(k): v for k, v in overrides.items()})
    status_map = {k: v for k, v in status_map.items() if v}
    if name == "github" and not set(status_map.values()) <= _GITHUB_STATES:
        raise TrackerConfigError(f"{where}.status_map values must be one of {sorted(_GITHUB_STATES)}")
    env_names = dict(DEFAULT_ENV[name])
    for key in env_names:
        if isinstance(body.get(key), str):
            env_names[key] = body[key]
    options = {k: v for k, v in body.items() if k in ("subtask_type", "status_context", "target_url")}
    return TrackerConfig(
        name=name, base_url=base_url.rstrip("/"), status_map=status_map,
        comments=bool(body.get("comments", True)), retry=_retry(body, defaults, where),
        env_names=env_names, options=options,
    )


def _loopback(url: str) -> bool:
    host = urllib.parse.urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _retry(body: dict, base: RetryPolicy, where: str) -> RetryPolicy:
    values = {}
    for key, default in base.__dict__.items():
        value = body.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise TrackerConfigError(f"{where}.{key} must be a number >= 0, got {value!r}")
        values[key] = type(default)(value)
    return RetryPolicy(**values)


__all__ = ["RetryPolicy", "TrackerConfig", "load_trackers", "parse_trackers"]

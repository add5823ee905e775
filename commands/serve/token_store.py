"""Where tokens live: the ``serve.tokens`` list of `.loki/config.yaml` (hashed) and the environment.

The file may also be config.yml or config.json (eventlog/settings_files.py); without one,
config.yaml is created. Rewriting a YAML file touches only its ``serve:`` section, so other
sections (cost prices, trackers) keep their comments and layout; the file is replaced
atomically under a lock, and every change is recorded in the log as a ``token`` event (ids and
scopes, never digests).
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Mapping

import yaml

from eventlog import EventLogError, FileEventLog, settings_files
from eventlog.errors import SettingsFileError
from eventlog.fsutil import atomic_write
from eventlog.locking import LogLock

from .tokens import Minted, TokenError, TokenRecord, mint, record_from_dict, records_from_env, rotate

CONFIG_NAME = "config"
ENV_TOKENS = "LOKILOG_SERVE_TOKENS"
_LOCK_TIMEOUT = 5.0



class TokenStore:
    """The tokens of one `.loki/` directory."""

    def __init__(self, loki_dir: Path, env: Mapping[str, str] | None = None) -> None:
        self.root = Path(loki_dir)
        self.env = os.environ if env is None else env

    @property
    def path(self) -> Path:
        """The settings file holding the tokens: the one that exists, else config.yaml."""
        try:
            found = settings_files.find(self.root, CONFIG_NAME)
        except SettingsFileError as exc:
            raise TokenError(str(exc)) from None
        return found or self.root / f"{CONFIG_NAME}.yaml"

    def configured(self) -> list[TokenRecord]:
        """Tokens stored in config.yaml."""
        section = _load(self.path).get("serve") or {}
        if not isinstance(section, Mapping):
            raise TokenError(f"{self.path}: `serve` must be a mapping")
        items = section.get("tokens") or []
        if not isinstance(items, list):
            raise TokenError(f"{self.path}: `serve.tokens` must be a list")
        return [record_from_dict(item, f"{self.path}: serve.tokens[{i}]") for i, item in enumerate(items)]

    def from_env(self) -> list[TokenRecord]:
        return records_from_env(self.env.get(ENV_TOKENS))

    def all(self) -> list[TokenRecord]:
        """Every token a request may present: config.yaml's and the environment's."""
        return self.configured() + self.from_env()

    def create(self, name: str | None, scopes, *, by: str = "cli", expires_at: str | None = None) -> Minted:
        """Mint a token, store its digest, record a ``token.created`` event; return the plain token once."""
        minted = mint(name, scopes, expires_at=expires_at)
        with self._locked():
            records = self.configured()
            self._write(records + [minted.record])
        self._record("created", minted.record, by)
        return minted

    def rotate(self, identifier: str, grace_seconds: float, *, by: str = "cli") -> Minted:
        """Give a stored token (by id or name) a new secret; the old one works for the grace period."""
        with self._locked():
            records = self.configured()
            index = self._index(records, identifier)
            minted = rotate(records[index], grace_seconds)
            records[index] = minted.record
            self._write(records)
        self._record("rotated", minted.record, by, grace_seconds=grace_seconds)
        return minted

    def revoke(self, identifier: str, *, by: str = "cli") -> TokenRecord:
        """Remove a stored token (by id or name)."""
        with self._locked():
            records = self.configured()
            removed = records.pop(self._index(records, identifier))
            self._write(records)
        self._record("revoked", removed, by)
        return removed

    def _index(self, records: list[TokenRecord], identifier: str) -> int:
        for position, record in enumerate(records):
            if identifier in (record.id, record.name):
                return position
        raise TokenNotFoundError(f"no token {identifier!r} in {self.path} (see `lokilog token list`)")

    def _locked(self):
        self.root.mkdir(parents=True, exist_ok=True)
        return _Held(LogLock(self.root / "config.yaml.lock"))

    def _write(self, records: list[TokenRecord]) -> None:
        path = self.path
        doc = _load(path)
        section = dict(doc.get("serve") or {}, tokens=[r.to_dict() for r in records])
        if path.suffix == ".json":
            data = json.dumps(dict(doc, serve=section), indent=2) + "\n"
        else:
            text = path.read_text(encoding="utf-8") if path.exists() else ""
            data = replace_section(text, "serve", section)
        atomic_write(path, data.encode("utf-8"))
        os.chmod(path, 0o600)

    def _record(self, action: str, record: TokenRecord, by: str, **extra: Any) -> None:
        payload = {"action": action, "token_id": record.id, "name": record.name, "scopes": list(record.scopes),
                   "who": by, **extra}
        with FileEventLog(self.root) as log:
            log.append("token", "api" if by.startswith("token:") else "cli", payload)


class TokenNotFoundError(EventLogError):
    """No stored token has that id or name (exit code 1, HTTP 404)."""


class _Held:
    def __init__(self, lock: LogLock) -> None:
        self.lock = lock

    def __enter__(self) -> None:
        self.lock.acquire(_LOCK_TIMEOUT)

    def __exit__(self, *exc: object) -> None:
        self.lock.release()
        self.lock.close()


def _load(path: Path) -> dict:
    try:
        return settings_files.parse(path, settings_files.read_text(path))
    except FileNotFoundError:
        return {}
    except SettingsFileError as exc:
        raise TokenError(str(exc)) from None


def replace_section(text: str, key: str, value: Any) -> str:
    """Return ``text`` with its top-level ``key:`` block replaced by ``value`` (appended if absent).

    A block runs from its ``key:`` line to the next line that starts a top-level key; lines of
    other blocks, comments included, are kept byte for byte.
    """
    block = yaml.safe_dump({key: value}, sort_keys=False, default_flow_style=False)
    pattern = re.compile(rf"^{re.escape(key)}:[ \t]*(#.*)?$", re.MULTILINE)
    found = pattern.search(text)
    if found is None:
        joiner = "" if not text or text.endswith("\n") else "\n"
        return text + joiner + block
    end = len(text)
    for line in re.finditer(r"^[^\s-][^\n]*$", text[found.end():], re.MULTILINE):
        end = found.end() + line.start()
        break
    return text[: found.start()] + block + text[end:]

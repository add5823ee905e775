"""The `.loki/` settings files: ``<name>.yaml``, ``<name>.yml`` or ``<name>.json``, the same everywhere.

Every reader of ``config``, ``policies`` and ``governance`` finds its file here, so each name is
accepted with the same three suffixes by every feature. At most one of them may exist: two
would leave it to the reader which one counts, so that is an error naming both. YAML is parsed
with PyYAML (imported only when a YAML file is read), JSON with the standard library.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .errors import SettingsFileError, UnsafeFileError
from .safeio import read_small

#: Suffixes accepted for every settings file, in the order they are named in messages.
SUFFIXES = (".yaml", ".yml", ".json")


def candidates(loki_dir: Path, name: str) -> tuple[Path, ...]:
    """The paths a settings file ``name`` may have, one per accepted suffix."""
    return tuple(Path(loki_dir) / f"{name}{suffix}" for suffix in SUFFIXES)


def present(loki_dir: Path, name: str) -> bool:
    """True when any file of ``name`` exists (a cheap gate before importing a feature)."""
    return any(path.exists() for path in candidates(loki_dir, name))


def find(loki_dir: Path, name: str) -> Path | None:
    """The one existing file of ``name`` (None when there is none); more than one is an error."""
    found = [path for path in candidates(loki_dir, name) if path.exists() or path.is_symlink()]
    check_unique(found)
    return found[0] if found else None


def check_unique(found: list[Path]) -> None:
    """Raise when more than one file of a settings name exists."""
    if len(found) > 1:
        raise SettingsFileError(f"both {found[0]} and {found[1]} exist; remove one")


def read_text(path: Path) -> str:
    """The text of a settings file, read safely (a FIFO or a huge file is refused, not waited on)."""
    try:
        return read_small(path, follow_links=True, json_depth_limit=None).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SettingsFileError(f"{path}: not UTF-8 ({exc.reason})") from None
    except UnsafeFileError as exc:
        raise SettingsFileError(f"{path}: cannot read the file: {exc}") from None


def parse(path: Path, text: str) -> dict[str, Any]:
    """Parse a settings file's text by its suffix; the top level must be a mapping (empty: {})."""
    if Path(path).suffix == ".json":
        try:
            doc = json.loads(text) if text.strip() else {}
        except ValueError as exc:
            raise SettingsFileError(f"{path}: cannot parse: not valid JSON: {exc}".splitlines()[0]) from exc
    else:
        import yaml  # imported here: only commands that read a YAML settings file pay for it

        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise SettingsFileError(f"{path}: cannot parse: not valid YAML: {exc}".splitlines()[0]) from exc
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise SettingsFileError(f"{path}: expected a mapping at the top level")
    return doc


def load(loki_dir: Path, name: str) -> tuple[dict[str, Any], Path | None]:
    """Read and parse the file of ``name``: its mapping and path, or ``({}, None)`` without one."""
    path = find(loki_dir, name)
    if path is None:
        return {}, None
    try:
        text = read_text(path)
    except FileNotFoundError:  # removed between the look and the read
        return {}, None
    return parse(path, text), path

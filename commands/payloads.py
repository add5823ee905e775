"""Turning command-line text into an event payload. Pure, so it is easy to test exhaustively.

Messages do not name an option: the command that passes the text names it, as its parser
spells it (see :func:`commands.errors.blame`).
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Iterable

import msgspec

from eventlog.errors import InvalidEventError, UnsafeFileError
from eventlog.safeio import check_json_depth


def load_payload_text(text: str | None) -> str | None:
    """Resolve ``-`` (stdin) and ``@file`` forms of --payload; plain text is returned as is."""
    if text == "-":
        return sys.stdin.read()
    if text is not None and text.startswith("@"):
        try:
            return Path(text[1:]).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidEventError(f"cannot read {text[1:]}: {exc.strerror or exc}") from exc
    return text


def parse_object(text: str | None) -> dict[str, Any]:
    """Parse a JSON object text; None or blank text is the empty object."""
    if text is None or not text.strip():
        return {}
    try:
        data = text.encode("utf-8", "surrogateescape")
        check_json_depth(data, what="the JSON object")  # a decoder must not recurse thousands deep
        value = msgspec.json.decode(data)
    except UnsafeFileError as exc:
        raise InvalidEventError(str(exc)) from None
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise InvalidEventError(f"not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise InvalidEventError(f"must be a JSON object, got {type(value).__name__}")
    return value


def build_payload(text: str | None, pairs: Iterable[str] = (), action: str | None = None) -> dict[str, Any]:
    """Build a payload from a JSON object text, ``key=value`` / ``key:=json`` pairs and an action."""
    payload = parse_object(text)
    for pair in pairs:
        key, value = parse_pair(pair)
        payload[key] = value
    if action is not None:
        payload["action"] = action
    return payload


def parse_pair(pair: str) -> tuple[str, Any]:
    """Parse ``key=value`` (a string) or ``key:=json`` (any JSON value), as httpie does."""
    if ":=" in pair and pair.index(":=") < pair.index("=") + 1:
        key, _, raw = pair.partition(":=")
        try:
            # Arguments that were not UTF-8 arrive with surrogate escapes: reject, never crash.
            data = raw.encode("utf-8", "surrogateescape")
            check_json_depth(data, what=repr(pair[:40]))
            value = msgspec.json.decode(data)
        except UnsafeFileError as exc:
            raise InvalidEventError(str(exc)) from None
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:
            raise InvalidEventError(f"{pair!r}: the value after := is not JSON: {exc}") from exc
    elif "=" in pair:
        key, _, value = pair.partition("=")
    else:
        raise InvalidEventError(f"{pair!r}: expected key=value or key:=json")
    if not key:
        raise InvalidEventError(f"{pair!r}: the key is empty")
    return key, value

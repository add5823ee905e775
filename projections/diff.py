"""What changed between two states: a flat list of (path, before, after). Pure."""
from __future__ import annotations

from typing import Any

import msgspec

#: Marks a value that is absent on one side.
MISSING = "<absent>"


def diff_states(before: Any, after: Any) -> list[dict[str, Any]]:
    """Return every leaf that differs, as ``{"path", "before", "after"}``, in path order."""
    changes: list[dict[str, Any]] = []
    _walk(msgspec.to_builtins(before), msgspec.to_builtins(after), "", changes)
    return changes


def _walk(a: Any, b: Any, path: str, out: list[dict[str, Any]]) -> None:
    if a == b:
        return
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b), key=str):
            _walk(a.get(key, MISSING), b.get(key, MISSING), _join(path, str(key)), out)
    elif isinstance(a, list) and isinstance(b, list):
        for i in range(max(len(a), len(b))):
            _walk(a[i] if i < len(a) else MISSING, b[i] if i < len(b) else MISSING, _join(path, str(i)), out)
    else:
        out.append({"path": path or ".", "before": a, "after": b})


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key

"""Learned overrides: `.loki/state/outcomes/applied.json`, written by the learning loop.

    {"overrides": [{"gate": "quality", "key": "min_coverage", "value": 85, "suggestion_id": "<event id>"}],
     "flaky_gates": ["quality"]}

It holds only suggestions that were approved and applied. An override replaces that gate's
setting in governance.yaml (for every mode, unless its value is itself a mapping by mode); a
flaky gate's REJECT becomes a PAUSE in dev and staging. A missing file means no overrides. An
override that would make the configuration invalid (an unknown gate or key, a wrong type, a
floor above prod's) is not applied, and the run records why: the learning loop must not be able
to switch governance off, and one bad suggestion must not stop every run either.
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import GovernanceConfig, GovernanceConfigError, build
from .model import GATES

APPLIED_VIEW = Path("state") / "outcomes" / "applied.json"


@dataclass(frozen=True)
class Learned:
    """The configuration with the overrides that applied, and what was left out and why."""

    config: GovernanceConfig
    applied: tuple[dict[str, Any], ...] = ()
    ignored: tuple[dict[str, Any], ...] = ()
    flaky: frozenset[str] = frozenset()


def read_applied(loki_dir: Path) -> dict[str, Any]:
    """Read the view; a missing file is no overrides; an unreadable one is an error (fail closed)."""
    from eventlog.safeio import read_small

    path = Path(loki_dir) / APPLIED_VIEW
    try:
        data = json.loads(read_small(path))
    except FileNotFoundError:
        return {}
    except (ValueError, UnicodeDecodeError) as exc:
        raise GovernanceConfigError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise GovernanceConfigError(f"{path}: expected an object with overrides and flaky_gates")
    return data


def apply(doc: dict[str, Any], applied: dict[str, Any], source: str = "<memory>") -> Learned:
    """Build the configuration from ``doc`` with each valid override of ``applied`` on top."""
    current = copy.deepcopy(doc)
    config = build(current, source)
    used, ignored = [], []
    for item in applied.get("overrides") or []:
        why = _malformed(item)
        if why is None:
            trial = copy.deepcopy(current)
            trial.setdefault("gates", {}).setdefault(item["gate"], {})
            if not isinstance(trial["gates"][item["gate"]], dict):
                trial["gates"][item["gate"]] = {}
            trial["gates"][item["gate"]][item["key"]] = copy.deepcopy(item["value"])
            try:
                config, current = build(trial, source), trial
                used.append(dict(item))
                continue
            except GovernanceConfigError as exc:
                why = str(exc)
        ignored.append({"override": item, "reason": why})
    flaky = applied.get("flaky_gates") or []
    names = frozenset(g for g in flaky if isinstance(g, str) and g in GATES) if isinstance(flaky, list) else frozenset()
    for gate in (flaky if isinstance(flaky, list) else [flaky]):
        if gate not in names:
            ignored.append({"flaky_gate": gate, "reason": f"not a gate (expected one of {', '.join(GATES)})"})
    return Learned(config, tuple(used), tuple(ignored), names)


def _malformed(item: Any) -> str | None:
    if not isinstance(item, dict):
        return "an override must be an object {gate, key, value, suggestion_id}"
    if item.get("gate") not in GATES:
        return f"unknown gate {item.get('gate')!r}"
    from .defaults import GATE_SETTINGS

    if item.get("key") not in GATE_SETTINGS[item["gate"]]:
        # enabled, on_concern and on_violation are not settings: learning tunes gates, never turns them off
        keys = ", ".join(GATE_SETTINGS[item["gate"]]) or "none"
        return f"gate {item['gate']} has no setting {item.get('key')!r} to override (settings: {keys})"
    if "value" not in item:
        return "an override needs a value"
    return None


def load(loki_dir: Path) -> Learned:
    """governance.yaml with the learned overrides applied."""
    from .config import read_document

    doc, source = read_document(loki_dir)
    return apply(doc, read_applied(loki_dir), source)

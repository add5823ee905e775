"""`.loki/governance.yaml`: read, merged over the defaults, checked and resolved per mode.

Checking is strict and names the file and key that is wrong (exit 2 at the CLI), because a
governance file that half-loads would be a gate that half-works: fail closed. One rule beyond
types: strictness is monotone, so no setting may be more lenient in staging than in dev, or in
prod than in staging (a higher coverage floor in dev than in prod is refused, for example).
"""
from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from . import defaults
from .checks import check_gate_settings, check_security_monotone
from .model import GATES, MODES, GovernanceConfigError, Verdict

#: The settings file: governance.yaml (or .yml, .json; eventlog/settings_files.py).
CONFIG_NAME = "governance"

#: Per-mode settings and the direction strictness grows in (dev -> prod): "up" for floors,
#: "down" for ceilings.
PER_MODE: dict[tuple[str, str], str] = {
    ("quality", "min_coverage"): "up", ("quality", "max_lint_errors"): "down",
    ("quality", "require_coverage"): "up", ("operations", "max_risk"): "down",
    ("consensus", "required"): "up", ("budget", "max_percent"): "down",
}
_VERDICT_KEYS = ("on_concern", "on_violation")


@dataclass(frozen=True)
class GovernanceConfig:
    """What the pipeline runs with: per mode, the gate order, each gate's settings and verdict map."""

    default_mode: str
    order: dict[str, tuple[str, ...]]
    settings: dict[str, dict[str, dict[str, Any]]]          # mode -> gate -> resolved settings
    verdicts: dict[str, dict[str, tuple[Verdict, Verdict]]]  # mode -> gate -> (on concern, on violation)
    enabled: frozenset[str]
    approval_timeout: float
    source: str = "<defaults>"
    digest: str = ""
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


def read_document(loki_dir: Path) -> tuple[dict[str, Any], str]:
    """Return governance.yaml as a mapping (empty when there is none) and where it came from."""
    from eventlog import settings_files
    from eventlog.errors import SettingsFileError

    try:
        doc, path = settings_files.load(Path(loki_dir), CONFIG_NAME)
    except SettingsFileError as exc:
        raise GovernanceConfigError(str(exc)) from None
    return (doc, str(path)) if path is not None else ({}, "<defaults>")


def build(doc: Mapping[str, Any], source: str = "<memory>") -> GovernanceConfig:
    """Check ``doc`` (governance.yaml's content) and resolve it over the defaults."""
    where = source
    _only(where, doc, ("version", "mode", "modes", "approvals", "gates"))
    if doc.get("version", 1) != 1:
        raise GovernanceConfigError(f"{where}: version must be 1, not {doc.get('version')!r}")
    default_mode = _mode(f"{where}: mode", doc.get("mode", "dev"))
    modes = _mapping(f"{where}: modes", doc.get("modes") or {})
    _only(f"{where}: modes", modes, MODES)
    gates = _mapping(f"{where}: gates", doc.get("gates") or {})
    _only(f"{where}: gates", gates, GATES)
    merged = {name: _merge_gate(f"{where}: gates.{name}", name, gates.get(name) or {}) for name in GATES}
    enabled = frozenset(n for n in GATES if merged[n].pop("enabled", True) is not False)
    order = {m: _order(f"{where}: modes.{m}", m, _mapping(f"{where}: modes.{m}", modes.get(m) or {})) for m in MODES}
    verdicts = _verdicts(where, modes, merged)
    settings = {m: {n: _resolve(merged[n], n, m) for n in GATES} for m in MODES}
    _check_monotone(where, merged)
    timeout = _timeout(where, doc.get("approvals") or {})
    digest = hashlib.sha256(repr(sorted(_flat(doc))).encode()).hexdigest()
    return GovernanceConfig(default_mode, order, settings, verdicts, enabled, timeout, source, digest, dict(doc))


def load(loki_dir: Path) -> GovernanceConfig:
    """Read and check `.loki/governance.yaml` (the defaults when there is none)."""
    doc, source = read_document(loki_dir)
    return build(doc, source)


def _merge_gate(where: str, name: str, given: Any) -> dict[str, Any]:
    given = _mapping(where, given)
    base = copy.deepcopy(defaults.GATE_SETTINGS[name])
    _only(where, given, (*base, "enabled", *_VERDICT_KEYS))
    if "enabled" in given and not isinstance(given["enabled"], bool):
        raise GovernanceConfigError(f"{where}.enabled must be true or false")
    base.update(copy.deepcopy(dict(given)))
    written = dict(base)  # as the file spells it, for error messages
    for key in base:
        if (name, key) in PER_MODE or (name, key) == ("security", "sources"):
            base[key] = by_mode(base[key], defaults.GATE_SETTINGS[name][key])
    check_gate_settings(where, name, base, written)
    return base


def _resolve(settings: Mapping[str, Any], gate: str, mode: str) -> dict[str, Any]:
    out = {}
    for key, value in settings.items():
        if key in _VERDICT_KEYS:
            continue
        out[key] = value[mode] if (gate, key) in PER_MODE or (gate, key) == ("security", "sources") else value
    return out


def by_mode(value: Any, default: Any) -> dict[str, Any]:
    """A per-mode setting as ``{mode: value}`` for every mode: a plain value holds in all of them,
    a mapping by mode names some (the others keep ``default``'s value)."""
    fallback = default if _is_by_mode(default) else dict.fromkeys(MODES, default)
    if _is_by_mode(value):
        return {m: value.get(m, fallback[m]) for m in MODES}
    return dict.fromkeys(MODES, value)


def _is_by_mode(value: Any) -> bool:
    return isinstance(value, Mapping) and bool(value) and set(value) <= set(MODES)


def per_mode(value: Any, mode: str) -> Any:
    """A setting's value in ``mode`` (None when it sets none there)."""
    return value.get(mode) if _is_by_mode(value) else value


def _order(where: str, mode: str, spec: Mapping[str, Any]) -> tuple[str, ...]:
    _only(where, spec, ("order", *_VERDICT_KEYS))
    first = spec.get("order") or []
    if not isinstance(first, list) or any(g not in GATES for g in first) or len(set(first)) != len(first):
        raise GovernanceConfigError(f"{where}.order must list distinct gates of {', '.join(GATES)}, not {first!r}")
    return tuple(first) + tuple(g for g in defaults.ORDER[mode] if g not in first)


def _verdicts(where: str, modes: Mapping[str, Any], merged: Mapping[str, dict]) -> dict:
    out: dict[str, dict[str, tuple[Verdict, Verdict]]] = {m: {} for m in MODES}
    for mode in MODES:
        spec = modes.get(mode) or {}
        mode_map = [_verdict(f"{where}: modes.{mode}.{k}", spec.get(k, defaults.STRICTNESS[mode][k])) for k in _VERDICT_KEYS]
        for gate in GATES:
            own = [per_mode(merged[gate].get(k), mode) for k in _VERDICT_KEYS]
            pair = [mode_map[i] if own[i] is None else _verdict(f"{where}: gates.{gate}.{k}", own[i])
                    for i, k in enumerate(_VERDICT_KEYS)]
            out[mode][gate] = (pair[0], pair[1])
    for gate in GATES:
        for position, key in enumerate(_VERDICT_KEYS):
            ranks = [out[m][gate][position].rank for m in MODES]
            if ranks != sorted(ranks):
                raise GovernanceConfigError(f"{where}: {key} of gate {gate} is more lenient in a stricter mode "
                                            f"({', '.join(f'{m}={out[m][gate][position].value}' for m in MODES)})")
    return out


def _verdict(where: str, value: Any) -> Verdict:
    try:
        return Verdict.parse(value)
    except ValueError:
        raise GovernanceConfigError(f"{where} must be pass, pause or reject, not {value!r}") from None


def _check_monotone(where: str, merged: Mapping[str, dict]) -> None:
    for (gate, key), direction in PER_MODE.items():
        values = [merged[gate][key][m] for m in MODES]
        ordered = values == sorted(values) if direction == "up" else values == sorted(values, reverse=True)
        if not ordered:
            shown = ", ".join(f"{m}={v}" for m, v in zip(MODES, values))
            raise GovernanceConfigError(f"{where}: gates.{gate}.{key} is more lenient in a stricter mode ({shown}); "
                                        f"it must {'not fall' if direction == 'up' else 'not rise'} from dev to prod")
    check_security_monotone(f"{where}: gates.security", merged["security"])


def _timeout(where: str, approvals: Any) -> float:
    approvals = _mapping(f"{where}: approvals", approvals)
    _only(f"{where}: approvals", approvals, ("timeout_seconds",))
    value = approvals.get("timeout_seconds", defaults.APPROVAL_TIMEOUT_SECONDS)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise GovernanceConfigError(f"{where}: approvals.timeout_seconds must be a positive number, not {value!r}")
    return float(value)


def _mode(where: str, value: Any) -> str:
    if value not in MODES:
        raise GovernanceConfigError(f"{where} must be one of {', '.join(MODES)}, not {value!r}")
    return value


def _mapping(where: str, value: Any) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise GovernanceConfigError(f"{where} must be a mapping, not {type(value).__name__}")
    return value


def _only(where: str, value: Mapping[str, Any], allowed) -> None:
    unknown = sorted(str(k) for k in value if k not in allowed)
    if unknown:
        raise GovernanceConfigError(f"{where}: unknown key(s) {', '.join(unknown)} (expected {', '.join(allowed)})")


def _flat(value: Any, prefix: str = "") -> list[tuple[str, str]]:
    if isinstance(value, Mapping):
        return [item for k in sorted(value, key=str) for item in _flat(value[k], f"{prefix}.{k}")]
    return [(prefix, repr(value))]

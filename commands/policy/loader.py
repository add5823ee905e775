"""Reading policy files: YAML or JSON text -> a validated, compiled PolicySet.

Errors name the file, the line and the field (``policies.yaml:7: policies.pre_execution[1].rule:
...``) so that a broken edit is easy to fix. Parsing keeps a line number for every value by
walking PyYAML's node tree; JSON is parsed strictly by ``json`` and then located by the same
walk (JSON is YAML), so both formats report lines.
"""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from eventlog.errors import InvalidEventError
from eventlog.redaction.secrets import DEFAULT_DETECTORS, PII, SECRET
from eventlog.errors import UnsafeFileError
from eventlog.safeio import read_small
from eventlog.settings_files import SUFFIXES

from .model import POINTS, ApprovalSettings, Decision, PolicySet, WebhookSettings
from .rules import Compare, DataScan, PathWithinProject, ProviderAllowList, RequiredGates, TokenBudget

#: policies.yaml, .yml or .json: the names every reader of the file accepts (eventlog/settings_files.py).
POLICY_FILES = tuple(f"policies{suffix}" for suffix in SUFFIXES)


class PolicyLoadError(InvalidEventError):
    """A policy file is unreadable or invalid; ``line`` is 1-based (0 when unknown)."""

    def __init__(self, path: str, line: int, field: str, message: str) -> None:
        where = f"{path}:{line}" if line else path
        super().__init__(f"{where}: {field + ': ' if field else ''}{message}")
        self.path, self.line, self.field, self.message = path, line, field, message


Lines = dict[tuple, int]


def load_policy_file(path: Path) -> PolicySet:
    """Read, validate and compile one policy file."""
    try:
        data = read_small(path, follow_links=True, json_depth_limit=None)  # a FIFO must not block a check
    except OSError as exc:
        raise PolicyLoadError(str(path), 0, "", f"cannot read the file: {exc.strerror or exc}") from exc
    except UnsafeFileError as exc:
        raise PolicyLoadError(str(path), 0, "", f"cannot read the file: {exc}") from exc
    return parse_policies(data, str(path), json_format=path.suffix == ".json")


def parse_policies(data: bytes | str, source: str = "<policies>", json_format: bool = False) -> PolicySet:
    """Parse policy text (YAML, or JSON when ``json_format``) into a PolicySet."""
    raw = data.encode() if isinstance(data, str) else data
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PolicyLoadError(source, 0, "", f"not UTF-8 text: {exc}") from exc
    value, lines = _parse_json(text, source) if json_format else _parse_yaml(text, source)
    return _Validator(source, lines).policy_set(value, hashlib.sha256(raw).hexdigest())


# ------------------------------------------------------------------------------- parsing


def _parse_yaml(text: str, source: str) -> tuple[Any, Lines]:
    import yaml

    try:
        # The reader rejects control characters as soon as it is built, so build it in here.
        loader = yaml.SafeLoader(text)
    except yaml.YAMLError as exc:
        raise PolicyLoadError(source, 0, "", f"invalid YAML: {exc}".splitlines()[0]) from exc
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}
        lines: Lines = {}
        return _walk(loader, node, (), lines, source), lines
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 0
        raise PolicyLoadError(source, line, "", f"invalid YAML: {exc.problem or exc}") from exc
    except yaml.YAMLError as exc:
        raise PolicyLoadError(source, 0, "", f"invalid YAML: {exc}") from exc
    finally:
        loader.dispose()


def _parse_json(text: str, source: str) -> tuple[Any, Lines]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PolicyLoadError(source, exc.lineno, "", f"invalid JSON: {exc.msg}") from exc
    try:
        _, lines = _parse_yaml(text, source)
    except PolicyLoadError:
        lines = {}  # valid JSON that YAML 1.1 rejects: validate without line numbers
    return value, lines


def _walk(loader, node, path: tuple, lines: Lines, source: str) -> Any:
    import yaml

    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                raise PolicyLoadError(source, key_node.start_mark.line + 1, _dotted(path), f"key {key!r} is not a string")
            if key in out:
                raise PolicyLoadError(source, key_node.start_mark.line + 1, _dotted(path + (key,)), "duplicate key")
            out[key] = _walk(loader, value_node, path + (key,), lines, source)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_walk(loader, item, path + (i,), lines, source) for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def _dotted(path: tuple) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


# ---------------------------------------------------------------------------- validation

_PATH_RULE = re.compile(r"\s*file_path\s+must\s+start\s+with\s+project_dir\s*")
_COMPARE_RULE = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]{0,63})\s{0,8}(<=|>=|==|!=|<|>)\s{0,8}(-?\d{1,18}(?:\.\d{1,9})?)\s*")
_GATES_RULE = re.compile(r"\s*passed_gates\s+must\s+include\s+(.+)")
_ACTIONS = {"deny": Decision.DENY, "require_approval": Decision.REQUIRE_APPROVAL, "allow": Decision.ALLOW}
_COMMON = {"name", "description", "enabled"}
_SCAN_TYPES = {"secret_detection": (SECRET,), "pii_detection": (PII,), "data_scan": (SECRET, PII)}
_DETECTORS = {d.name: d for d in DEFAULT_DETECTORS}


class _Validator:
    """Checks the parsed value against the schema in docs/POLICY.md and compiles its rules."""

    def __init__(self, source: str, lines: Lines) -> None:
        self.source, self.lines = source, lines

    def fail(self, path: tuple, message: str) -> PolicyLoadError:
        probe = path
        while probe and probe not in self.lines:
            probe = probe[:-1]
        return PolicyLoadError(self.source, self.lines.get(probe, 0), _dotted(path), message)

    def policy_set(self, value: Any, digest: str) -> PolicySet:
        if value is None:
            value = {}
        self.mapping(value, ())
        self.known_keys(value, (), {"policies", "approvals", "version"})
        policies = value.get("policies") or {}
        self.mapping(policies, ("policies",))
        points = {}
        seen: dict[str, tuple] = {}
        for point, entries in policies.items():
            if point not in POINTS:
                raise self.fail(("policies", point), f"unknown enforcement point (expected one of {', '.join(POINTS)})")
            if entries is None:
                entries = []
            if not isinstance(entries, list):
                raise self.fail(("policies", point), "must be a list of policies")
            rules = []
            for i, entry in enumerate(entries):
                path = ("policies", point, i)
                rule = self.rule(entry, path, point)
                if rule is None:
                    continue
                if rule.name in seen:
                    raise self.fail(path + ("name",), f"duplicate policy name {rule.name!r} (first at {_dotted(seen[rule.name])})")
                seen[rule.name] = path
                rules.append(rule)
            points[point] = tuple(rules)
        approvals = self.approvals(value.get("approvals"), ("approvals",))
        return PolicySet(points, approvals, self.source, digest)

    # -- helpers

    def mapping(self, value: Any, path: tuple) -> None:
        if not isinstance(value, dict):
            raise self.fail(path, f"must be a mapping, got {_kind(value)}")

    def known_keys(self, value: dict, path: tuple, allowed: set[str]) -> None:
        for key in value:
            if key not in allowed:
                raise self.fail(path + (key,), f"unknown field (expected one of {', '.join(sorted(allowed))})")

    def string(self, entry: dict, path: tuple, key: str, required: bool = False) -> str | None:
        value = entry.get(key)
        if value is None and not required:
            return None
        if not isinstance(value, str) or not value.strip():
            raise self.fail(path + (key,), "is required" if value is None else f"must be a non-empty string, got {_kind(value)}")
        return value

    def strings(self, entry: dict, path: tuple, key: str) -> tuple[str, ...] | None:
        value = entry.get(key)
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.fail(path + (key,), "must be a list of strings")
        return tuple(value)

    def number(self, entry: dict, path: tuple, key: str, minimum: float = 0) -> float | None:
        value = entry.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
            raise self.fail(path + (key,), f"must be a number >= {minimum}, got {value!r}")
        return value

    def action(self, entry: dict, path: tuple, key: str, default: Decision) -> Decision:
        value = entry.get(key)
        if value is None:
            return default
        if not isinstance(value, str) or value.lower() not in _ACTIONS:
            raise self.fail(path + (key,), f"must be one of {', '.join(_ACTIONS)}, got {value!r}")
        return _ACTIONS[value.lower()]

    # -- rules

    def rule(self, entry: Any, path: tuple, point: str):
        self.mapping(entry, path)
        name = self.string(entry, path, "name", required=True)
        enabled = entry.get("enabled", True)
        if not isinstance(enabled, bool):
            raise self.fail(path + ("enabled",), f"must be true or false, got {enabled!r}")
        self.string(entry, path, "description")
        if "rule" in entry:
            compiled = self.rule_string(entry, path, name)
        elif "type" in entry:
            compiled = self.typed_rule(entry, path, name)
        elif "max_tokens" in entry or "providers" in entry:
            compiled = self.budget(entry, path, name)
        else:
            raise self.fail(path, "needs a rule, a type, or max_tokens/providers")
        return compiled if enabled else None

    def rule_string(self, entry: dict, path: tuple, name: str):
        self.known_keys(entry, path, _COMMON | {"rule", "action"})
        text = self.string(entry, path, "rule", required=True)
        action = self.action(entry, path, "action", Decision.DENY)
        if _PATH_RULE.fullmatch(text):
            return PathWithinProject(name, action)
        match = _COMPARE_RULE.fullmatch(text)
        if match:
            return Compare(name, match.group(1), match.group(2), float(match.group(3)), action)
        match = _GATES_RULE.fullmatch(text)
        if match:
            gates = tuple(g.strip() for g in match.group(1).split(",") if g.strip())
            return RequiredGates(name, gates, action)
        raise self.fail(path + ("rule",), f"unknown rule {text!r} (expected 'file_path must start with project_dir', "
                                          "'FIELD <= NUMBER' or 'passed_gates must include A, B')")

    def typed_rule(self, entry: dict, path: tuple, name: str):
        kind = self.string(entry, path, "type", required=True)
        if kind in _SCAN_TYPES:
            self.known_keys(entry, path, _COMMON | {"type", "action", "detectors"})
            return DataScan(name, self.detectors(entry, path, _SCAN_TYPES[kind]), self.action(entry, path, "action", Decision.DENY))
        if kind == "required_gates":
            self.known_keys(entry, path, _COMMON | {"type", "action", "gates"})
            gates = self.strings(entry, path, "gates")
            if not gates:
                raise self.fail(path + ("gates",), "required_gates needs a non-empty gates list")
            return RequiredGates(name, gates, self.action(entry, path, "action", Decision.DENY))
        if kind == "provider_allowlist":
            self.known_keys(entry, path, _COMMON | {"type", "action", "providers"})
            providers = self.strings(entry, path, "providers")
            if not providers:
                raise self.fail(path + ("providers",), "provider_allowlist needs a non-empty providers list")
            return ProviderAllowList(name, frozenset(providers), self.action(entry, path, "action", Decision.DENY))
        if kind == "token_budget":
            return self.budget(entry, path, name)
        raise self.fail(path + ("type",), f"unknown type {kind!r} (expected one of "
                                          f"{', '.join([*_SCAN_TYPES, 'required_gates', 'provider_allowlist', 'token_budget'])})")

    def detectors(self, entry: dict, path: tuple, categories: tuple[str, ...]):
        names = self.strings(entry, path, "detectors")
        if names is None:
            return tuple(d for d in DEFAULT_DETECTORS if d.category in categories)
        for i, n in enumerate(names):
            if n not in _DETECTORS:
                raise self.fail(path + ("detectors", i), f"unknown detector {n!r} (known: {', '.join(_DETECTORS)})")
        return tuple(d for d in DEFAULT_DETECTORS if d.name in names)

    def budget(self, entry: dict, path: tuple, name: str) -> TokenBudget:
        self.known_keys(entry, path, _COMMON | {"type", "max_tokens", "alerts", "on_exceed", "providers"})
        max_tokens = self.number(entry, path, "max_tokens")
        if max_tokens is not None and not float(max_tokens).is_integer():
            raise self.fail(path + ("max_tokens",), "must be a whole number of tokens")
        alerts = entry.get("alerts") or []
        if not isinstance(alerts, list) or not all(_percent(a) for a in alerts):
            raise self.fail(path + ("alerts",), "must be a list of percentages between 1 and 100")
        providers = self.strings(entry, path, "providers")
        return TokenBudget(
            name, None if max_tokens is None else int(max_tokens),
            self.action(entry, path, "on_exceed", Decision.REQUIRE_APPROVAL),
            tuple(sorted(set(alerts))), frozenset(providers) if providers is not None else None,
        )

    # -- approvals

    def approvals(self, value: Any, path: tuple) -> ApprovalSettings:
        if value is None:
            return ApprovalSettings()
        self.mapping(value, path)
        self.known_keys(value, path, {"timeout_seconds", "on_timeout", "webhook"})
        timeout = self.number(value, path, "timeout_seconds", minimum=1)
        on_timeout = value.get("on_timeout", "deny")
        if on_timeout not in ("approve", "deny"):
            raise self.fail(path + ("on_timeout",), f"must be approve or deny, got {on_timeout!r}")
        return ApprovalSettings(
            timeout_seconds=float(timeout) if timeout is not None else ApprovalSettings.timeout_seconds,
            on_timeout=on_timeout, webhook=self.webhook(value.get("webhook"), path + ("webhook",)),
        )

    def webhook(self, value: Any, path: tuple) -> WebhookSettings | None:
        if value is None:
            return None
        self.mapping(value, path)
        self.known_keys(value, path, {"url", "secret_env", "timeout_seconds", "retries"})
        url = self.string(value, path, "url", required=True)
        if not url.startswith(("http://", "https://")):
            raise self.fail(path + ("url",), f"must be an http:// or https:// URL, got {url!r}")
        timeout = self.number(value, path, "timeout_seconds", minimum=0.1)
        if timeout is not None and timeout > 60:
            raise self.fail(path + ("timeout_seconds",), "must be at most 60 seconds")
        retries = value.get("retries", 2)
        if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= 10:
            raise self.fail(path + ("retries",), f"must be a whole number from 0 to 10, got {retries!r}")
        return WebhookSettings(url, self.string(value, path, "secret_env"),
                               float(timeout) if timeout is not None else 5.0, retries)


def _percent(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value <= 100


def _kind(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", type(None): "nothing"}.get(type(value), type(value).__name__)

"""The built-in rule evaluators. Each is pure: it reads only its settings and the context.

A rule that cannot evaluate because the context lacks or mistypes a field objects with its own
action or denies (fail closed): a missing field is never read as "nothing to check".
"""
from __future__ import annotations

import operator
import os.path
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from eventlog.redaction.secrets import DEFAULT_DETECTORS, Detector, scan

from .model import Decision, Outcome

_sep = os.path.sep


def _deny(reason: str) -> Outcome:
    return Outcome(Decision.DENY, reason)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def normalize(path: str) -> str:
    """Collapse ``.``, ``..`` and repeated separators without touching the file system."""
    norm = os.path.normpath(path)
    # POSIX keeps a leading "//" (it may mean something special); for containment it is "/".
    return _sep + norm.lstrip(_sep) if norm.startswith(_sep) else norm


def inside(path: str, root: str) -> bool:
    """Return whether normalized ``path`` is ``root`` or below it (``/proj-evil`` is not below ``/proj``)."""
    if root == _sep:
        return True
    return path == root or path.startswith(root + _sep)


@dataclass(frozen=True, slots=True)
class PathWithinProject:
    """``file_path must start with project_dir``, after resolving ``..`` and, when known, symlinks.

    Symlinks can only be seen on disk, so the edge (:func:`commands.policy.gate.prepare_context`)
    adds ``context["resolved"] = {"file_path": ..., "project_dir": ...}`` with real paths, and
    then those decide. Without them the check is lexical (``..`` collapsed, no file system).
    A relative ``file_path`` is relative to ``project_dir``; ``/proj-evil`` is not inside ``/proj``.
    """

    name: str
    action: Decision = Decision.DENY

    def check(self, context: Mapping[str, Any]) -> Outcome | None:
        file_path, project_dir = context.get("file_path"), context.get("project_dir")
        if not isinstance(file_path, str) or not file_path:
            return _deny("the context has no file_path string")
        if not isinstance(project_dir, str) or not project_dir:
            return _deny("the context has no project_dir string")
        if "\0" in file_path or "\0" in project_dir:
            return _deny("a path contains a NUL byte")
        if not os.path.isabs(project_dir):
            return _deny(f"project_dir {project_dir!r} is not an absolute path")
        resolved = context.get("resolved")
        if resolved is not None:
            # Real paths are where the bytes would land: they alone decide (a file named through
            # a symlinked project directory is inside it; a symlink leading out is not).
            return self._check_resolved(file_path, resolved)
        root = normalize(project_dir)
        target = normalize(os.path.join(root, file_path))
        if not inside(target, root):
            return Outcome(self.action, f"{file_path!r} is outside the project {root!r}")
        return None

    def _check_resolved(self, file_path: str, resolved: Any) -> Outcome | None:
        real_file = resolved.get("file_path") if isinstance(resolved, Mapping) else None
        real_root = resolved.get("project_dir") if isinstance(resolved, Mapping) else None
        if not isinstance(real_file, str) or not isinstance(real_root, str):
            return _deny("context.resolved must hold file_path and project_dir strings")
        if not inside(normalize(real_file), normalize(real_root)):
            return Outcome(self.action, f"{file_path!r} resolves to {real_file!r}, outside the project {real_root!r}")
        return None


_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "<=": operator.le, "<": operator.lt, ">=": operator.ge, ">": operator.gt, "==": operator.eq, "!=": operator.ne,
}


@dataclass(frozen=True, slots=True)
class Compare:
    """``FIELD OP NUMBER``, e.g. ``active_agents <= 5``: objects when the comparison is false."""

    name: str
    field: str
    op: str
    limit: float
    action: Decision = Decision.DENY

    def check(self, context: Mapping[str, Any]) -> Outcome | None:
        value = context.get(self.field)
        if not _number(value):
            return _deny(f"the context has no numeric {self.field}")
        if _OPERATORS[self.op](value, self.limit):
            return None
        return Outcome(self.action, f"{self.field} is {value}; the policy requires {self.field} {self.op} {_fmt(self.limit)}")


def _fmt(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else str(number)


@dataclass(frozen=True, slots=True)
class RequiredGates:
    """Deployment needs every named quality gate in ``passed_gates``."""

    name: str
    gates: tuple[str, ...]
    action: Decision = Decision.DENY

    def check(self, context: Mapping[str, Any]) -> Outcome | None:
        passed = context.get("passed_gates")
        if not isinstance(passed, (list, tuple)):
            return _deny("the context has no passed_gates list")
        missing = [g for g in self.gates if g not in passed]
        if missing:
            return Outcome(self.action, f"gates not passed: {', '.join(missing)}")
        return None


@dataclass(frozen=True, slots=True)
class ProviderAllowList:
    """Only the listed providers may be used."""

    name: str
    providers: frozenset[str]
    action: Decision = Decision.DENY

    def check(self, context: Mapping[str, Any]) -> Outcome | None:
        provider = context.get("provider")
        if not isinstance(provider, str):
            return _deny("the context has no provider string")
        if provider not in self.providers:
            return Outcome(self.action, f"provider {provider!r} is not allowed (allowed: {', '.join(sorted(self.providers))})")
        return None


@dataclass(frozen=True, slots=True)
class TokenBudget:
    """A token budget: ``tokens_consumed`` (from the cost projection) against ``max_tokens``.

    Past the budget the rule answers ``on_exceed``; below it, crossing an alert percentage
    allows with the crossed thresholds in ``alerts``. ``providers``, when set, is an allow-list.
    """

    name: str
    max_tokens: int | None
    on_exceed: Decision = Decision.REQUIRE_APPROVAL
    alerts: tuple[int, ...] = ()
    providers: frozenset[str] | None = None

    def check(self, context: Mapping[str, Any]) -> Outcome | None:
        if self.providers is not None:
            provider = context.get("provider")
            if not isinstance(provider, str):
                return _deny("the context has no provider string")
            if provider not in self.providers:
                return _deny(f"provider {provider!r} is not allowed (allowed: {', '.join(sorted(self.providers))})")
        if self.max_tokens is None:
            return None
        consumed = context.get("tokens_consumed")
        if not _number(consumed) or consumed < 0:
            return _deny("the context has no tokens_consumed count")
        if consumed > self.max_tokens:
            return Outcome(self.on_exceed, f"{consumed} tokens consumed, over the budget of {self.max_tokens}")
        crossed = tuple(a for a in self.alerts if consumed * 100 >= a * self.max_tokens)
        if crossed:
            return Outcome(Decision.ALLOW, f"{consumed} of {self.max_tokens} tokens consumed ({crossed[-1]}% alert)",
                           alerts=crossed)
        return None


@dataclass(frozen=True, slots=True)
class DataScan:
    """Scan ``content`` for secrets and/or PII; any finding objects."""

    name: str
    detectors: tuple[Detector, ...] = DEFAULT_DETECTORS
    action: Decision = Decision.DENY

    def check(self, context: Mapping[str, Any]) -> Outcome | None:
        content = context.get("content")
        if not isinstance(content, str):
            return _deny("the context has no content string")
        findings = scan(content, self.detectors)
        if not findings:
            return None
        kinds = sorted({f.detector for f in findings})
        return Outcome(self.action, f"found {len(findings)} sensitive item(s): {', '.join(kinds)}", tuple(findings))

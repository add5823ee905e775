"""Refusing regular expressions that can backtrack catastrophically, by reading their syntax.

The rule (see :mod:`eventlog.redaction.secrets`): every repeat is bounded (at most :data:`MAX_REPEAT`),
and a repeat that may match more than once repeats a single character (``[a-z]{1,64}``,
never ``(ab)+`` or ``(a|b)*``); only optional groups (``(...)?``) may hold further repeats.
So the work per start position has a fixed bound and a scan is linear in the text.

This reads the pattern text itself (Python's ``re`` syntax) instead of the interpreter's
private parser module, whose shape changes between Python versions.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

#: The largest bound a repeat may have; keeps the per-position work of every pattern bounded.
MAX_REPEAT = 16384

_BRACES = re.compile(r"\{([0-9]*)(?:(,)([0-9]*))?\}")
_FLAGS = re.compile(r"[aiLmsux]*(?:-[imsx]+)?")
_BACKREF = re.compile(r"[1-9][0-9]?")


class UnsafePatternError(ValueError):
    """A pattern could backtrack catastrophically (see the module docstring)."""


@dataclass
class _Frame:
    """One group being read: what its last atom was, and whether it is one character wide."""

    atoms: int = 0
    alternatives: bool = False
    repeated: bool = False
    last_single: bool = False
    last_start: int = -1


def check_pattern(pattern: str, flags: int = 0) -> None:
    """Raise UnsafePatternError unless every repeat in ``pattern`` is bounded and simple."""
    del flags  # the verbose flag is not used by any detector; other flags do not change the shape
    stack = [_Frame()]
    i = 0
    while i < len(pattern):
        c = pattern[i]
        frame = stack[-1]
        if c == "\\":
            ref = _BACKREF.match(pattern, i + 1)  # \1 repeats a group's text: not one character
            _atom(frame, i, single=ref is None)
            i += 1 + (len(ref.group()) if ref else 1)
        elif c == "[":
            start, i = i, _class_end(pattern, i)
            _atom(frame, start, single=True)
        elif c == "(":
            i = _open_group(pattern, i, stack)
        elif c == ")":
            if len(stack) == 1:
                raise UnsafePatternError(f"{pattern!r}: unbalanced parenthesis")
            inner = stack.pop()
            single = inner.atoms == 1 and inner.last_single and not inner.alternatives and not inner.repeated
            _atom(stack[-1], i, single=single)
            i += 1
        elif c == "|":
            frame.alternatives = True
            frame.last_start = -1
            i += 1
        elif c in "*+?{":
            i = _repeat(pattern, i, frame)
        else:
            _atom(frame, i, single=c not in "^$")
            i += 1
    if len(stack) != 1:
        raise UnsafePatternError(f"{pattern!r}: unbalanced parenthesis")
    re.compile(pattern)  # anything this reader let through must still be a valid pattern


def _atom(frame: _Frame, at: int, single: bool) -> None:
    frame.atoms += 1
    frame.last_single = single
    frame.last_start = at


def _class_end(pattern: str, i: int) -> int:
    j = i + 1
    if j < len(pattern) and pattern[j] == "^":
        j += 1
    if j < len(pattern) and pattern[j] == "]":
        j += 1  # a leading ] is a literal
    while j < len(pattern) and pattern[j] != "]":
        j += 2 if pattern[j] == "\\" else 1
    if j >= len(pattern):
        raise UnsafePatternError(f"{pattern!r}: unterminated character class")
    return j + 1


def _open_group(pattern: str, i: int, stack: list[_Frame]) -> int:
    if pattern.startswith("(?", i):
        rest = pattern[i + 2:]
        if rest.startswith("#"):
            end = pattern.find(")", i)
            return len(pattern) if end < 0 else end + 1
        if rest.startswith("P="):
            end = pattern.find(")", i)
            _atom(stack[-1], i, single=False)
            return end + 1
        flags = _FLAGS.match(rest).group()
        if flags and rest[len(flags):].startswith(")"):
            return i + 2 + len(flags) + 1  # global flags: not a group
        for prefix in (":", "P<", "=", "!", "<=", "<!", ">"):
            if rest[len(flags):].startswith(prefix):
                if prefix == "P<":
                    close = pattern.find(">", i)
                    stack.append(_Frame())
                    return close + 1
                stack.append(_Frame())
                return i + 2 + len(flags) + len(prefix)
        raise UnsafePatternError(f"{pattern!r}: unknown group syntax at {i}")
    stack.append(_Frame())
    return i + 1


def _repeat(pattern: str, i: int, frame: _Frame) -> int:
    c = pattern[i]
    if c == "{":
        braces = _BRACES.match(pattern, i)
        if braces is None or not (braces.group(1) or braces.group(3)):
            _atom(frame, i, single=True)  # not a quantifier: a literal brace
            return i + 1
        low = int(braces.group(1) or 0)
        high = low if braces.group(2) is None else (int(braces.group(3)) if braces.group(3) else None)
        end = braces.end()
    else:
        high = 1 if c == "?" else None
        end = i + 1
    if frame.last_start < 0:
        raise UnsafePatternError(f"{pattern!r}: a repeat at {i} repeats nothing")
    if high is None or high > MAX_REPEAT:
        raise UnsafePatternError(f"{pattern!r}: unbounded repeat (use {{0,{MAX_REPEAT}}} at most)")
    if high > 1 and not frame.last_single:
        raise UnsafePatternError(f"{pattern!r}: a repeated group must match one character")
    frame.repeated = True
    frame.last_single = False  # x{2} is no longer one character wide
    if end < len(pattern) and pattern[end] in "?+":
        end += 1  # lazy or possessive: the same bound
    return end


__all__ = ["MAX_REPEAT", "UnsafePatternError", "check_pattern"]

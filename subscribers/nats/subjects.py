"""The subject scheme `loki.<project>.<stream>`: reversible escaping of subject tokens.

A token keeps ASCII letters, digits and `-`; every other byte of its UTF-8 form becomes `%XX`
(so `.`, `*`, `>`, whitespace, `_` and `%` cannot break or alias a subject). `_` alone means
"no stream"; an empty string is written `%`.
"""
from __future__ import annotations

import re

PREFIX = "loki"
NO_STREAM = "_"
_PLAIN = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-")
_ESCAPE = re.compile(r"%([0-9A-F]{2})")


def escape_token(text: str) -> str:
    if text == "":
        return "%"
    return "".join(chr(b) if b in _PLAIN else f"%{b:02X}" for b in text.encode("utf-8"))


def unescape_token(token: str) -> str:
    if token == "%":
        return ""
    raw = bytearray()
    i = 0
    while i < len(token):
        if token[i] == "%":
            raw.append(int(token[i + 1:i + 3], 16))
            i += 3
        else:
            raw.append(ord(token[i]))
            i += 1
    return raw.decode("utf-8")


def subject_for(project: str, stream: str | None) -> str:
    """The subject an event of ``stream`` (None: no stream) in ``project`` is published on."""
    tail = NO_STREAM if stream is None else escape_token(stream)
    return f"{PREFIX}.{escape_token(project)}.{tail}"


def parse_subject(subject: str) -> tuple[str, str | None]:
    """Inverse of :func:`subject_for`: (project, stream or None)."""
    prefix, project, tail = subject.split(".", 2)
    if prefix != PREFIX:
        raise ValueError(f"subject {subject!r} is not under {PREFIX}.")
    return unescape_token(project), None if tail == NO_STREAM else unescape_token(tail)

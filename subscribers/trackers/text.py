"""Untrusted text (task titles, errors, branch names) made safe to post to a tracker. Pure.

Titles and errors come from agents and from the trackers themselves. Before they reach a
comment they lose control characters, cannot open a GitHub Actions expression (`${{`) or an
HTML comment (which could forge our own dedup marker), and are bounded in length.
"""
from __future__ import annotations

import hashlib
import re

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_CONTEXT_UNSAFE = re.compile(r"[^A-Za-z0-9._/-]")


def clean_text(text: str, limit: int = 4000) -> str:
    """Return ``text`` without control characters, expression openers or comment markers."""
    text = _CONTROL.sub("", text)
    text = text.replace("${{", "$ {{").replace("<!--", "< !--").replace("-->", "-- >")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def clean_context(text: str, limit: int = 100) -> str:
    """Return a GitHub status context made only of ``A-Z a-z 0-9 . _ / -``."""
    return _CONTEXT_UNSAFE.sub("-", text)[:limit] or "lokilog"


def marker(op_id: str) -> str:
    """The hidden marker that identifies a GitHub comment as an op's (for read-back dedup)."""
    return f"<!-- lokilog:op={op_id} -->"


def uuid_for(op_id: str) -> str:
    """A UUID (version 4 layout) derived from an op id: Linear accepts client-chosen ids."""
    h = bytearray(hashlib.sha256(op_id.encode()).digest()[:16])
    h[6] = (h[6] & 0x0F) | 0x40
    h[8] = (h[8] & 0x3F) | 0x80
    x = h.hex()
    return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"


def adf(text: str) -> dict:
    """Wrap plain text in an Atlassian Document Format document, one paragraph per line."""
    paragraphs = [
        {"type": "paragraph", "content": [{"type": "text", "text": line}]} if line else {"type": "paragraph"}
        for line in text.split("\n")
    ]
    return {"type": "doc", "version": 1, "content": paragraphs}

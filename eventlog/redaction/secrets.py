"""Secret and PII detection: one shared pattern set for the policy engine and the scrubbers.

A :class:`Detector` is a name, a category (``secret`` or ``pii``), a compiled regex and an
optional validator (the Luhn check for card numbers). :func:`scan` finds, :func:`redact`
replaces. Both are pure. Other modules extend the set by building their own tuple::

    MY_DETECTORS = DEFAULT_DETECTORS + (detector("ipv4", "pii", r"..."),)
    redact(text, MY_DETECTORS)

Every pattern goes through :func:`check_pattern` when its detector is built, which rejects the
shapes that can backtrack catastrophically: every repeat must be bounded, and a repeat that
may match more than once must repeat a single character (``[a-z]{1,64}``, never ``(ab)+`` or
``(a|b)*``). Only optional groups (``(...)?``) may hold further repeats. So the work per start
position has a fixed bound and a scan is linear in the text.

Names are stable: they appear in recorded policy decisions and in redaction labels
(``[REDACTED:aws_access_key]``). Bump :data:`RULES_VERSION` when what a detector matches changes.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from .regex_shape import MAX_REPEAT, UnsafePatternError, check_pattern

RULES_VERSION = "2"

SECRET = "secret"
PII = "pii"


@dataclass(frozen=True, slots=True)
class Detector:
    """One kind of secret or PII: ``group`` is the part of a match that is sensitive."""

    name: str
    category: str
    pattern: re.Pattern[str]
    validator: Callable[[str], bool] | None = None
    group: int = 0
    #: Cheap pre-checks: the text must contain one of ``requires``, and its lower-case form one
    #: of ``requires_ci``, or the regex is skipped (most text has none of them).
    requires: tuple[str, ...] = ()
    requires_ci: tuple[str, ...] = ()
    #: For ``fold_case`` detectors: the same pattern without IGNORECASE, matched against the
    #: lower-cased text when it is ASCII (same length, same offsets), about 3x faster.
    folded: re.Pattern[str] | None = None


@dataclass(frozen=True, slots=True)
class Finding:
    """Where a detector found something; the sensitive text itself is never carried."""

    detector: str
    category: str
    start: int
    end: int

    def to_dict(self) -> dict[str, Any]:
        return {"detector": self.detector, "category": self.category, "start": self.start, "end": self.end}


def detector(
    name: str,
    category: str,
    pattern: str,
    *,
    flags: int = 0,
    validator: Callable[[str], bool] | None = None,
    group: int = 0,
    requires: Iterable[str] = (),
    requires_ci: Iterable[str] = (),
    fold_case: bool = False,
) -> Detector:
    """Build a detector, refusing patterns that could backtrack catastrophically.

    ``fold_case`` makes the pattern case-insensitive; write such a pattern in lower case.
    """
    if category not in (SECRET, PII):
        raise ValueError(f"detector {name!r}: category must be {SECRET!r} or {PII!r}, not {category!r}")
    check_pattern(pattern, flags)
    if fold_case and pattern != pattern.lower():
        raise ValueError(f"detector {name!r}: a fold_case pattern must be written in lower case")
    compiled = re.compile(pattern, flags | (re.IGNORECASE if fold_case else 0))
    return Detector(name, category, compiled, validator, group, tuple(requires),
                    tuple(w.lower() for w in requires_ci), re.compile(pattern, flags) if fold_case else None)


def luhn_valid(number: str) -> bool:
    """Return whether the digits of ``number`` (13 to 19 of them) pass the Luhn check."""
    digits = [ord(c) - 48 for c in number if "0" <= c <= "9"]
    if not 13 <= len(digits) <= 19:
        return False
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


#: Issuer prefixes of the card networks (Visa, Mastercard, Amex, Discover, JCB, Diners, UnionPay):
#: a Luhn-valid run of digits outside them is far more likely an id than a card.
_CARD_PREFIX = re.compile(r"4|5[1-5]|2(?:2[2-9]|[3-6][0-9]|7[01]|720)|3[47]|3[05689]|6(?:011|5|4[4-9]|2)")


def _card_valid(text: str) -> bool:
    digits = "".join(c for c in text if "0" <= c <= "9")
    return _CARD_PREFIX.match(digits) is not None and luhn_valid(digits)


def _ssn_valid(text: str) -> bool:
    area, group, serial = text.split("-")
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


#: Key names whose value is a secret (regex fragments, matched case-insensitively anywhere in a
#: key, so DB_PASSWORD and aws_session_token count).
SECRET_KEY_WORDS = (
    "password", "passwd", "passphrase", "pwd", "secret", "api[_-]?key", "apikey", "access[_-]?key",
    "private", "token", "credentials?", "cookie", "auth", "session[_-]?(?:id|key)", "signature", "dsn",
    "connection[_-]?string", "salt", "secret[_-]?key", "client[_-]?secret", "private[_-]?key",
    "auth[_-]?token", "access[_-]?token", "refresh[_-]?token",
)
_DIGIT_CHARS = tuple("0123456789")


def _keywords(words: Iterable[str]) -> str:
    # Each branch starts with a plain character class, so the engine skips positions that
    # cannot start a keyword instead of trying every branch everywhere.
    by_first: dict[str, list[str]] = {}
    for word in words:
        by_first.setdefault(word[0].lower(), []).append(word[1:])
    return "(?:" + "|".join(
        f"[{c.upper()}{c}](?i:{'|'.join(sorted(rest, key=len, reverse=True))})" for c, rest in by_first.items()
    ) + ")"


_KEYS = _keywords(SECRET_KEY_WORDS)
# Key, optional closing quote (also JSON escaped inside a string: \"), separator, then a value.
_ASSIGN = _KEYS + r"\\{0,2}[\"']?[ \t]{0,5}(?::|=|:=|=>)[ \t]{0,5}"
_SECRET_KEY = re.compile(_KEYS)
_B64 = "A-Za-z0-9/+"


def is_secret_key(name: str) -> bool:
    """True when a key (a dict key, a variable name) names a secret, so its whole value is one."""
    return _SECRET_KEY.search(name) is not None


def _mixed(text: str) -> bool:
    # Keys mix upper case, lower case and digits; hex digests, words and identifiers do not.
    return any(c.isupper() for c in text) and any(c.islower() for c in text) and any(c.isdigit() for c in text)


# Patterns start with a literal where they can, and check the character before it with a
# fixed-width look-behind instead of a leading \b: a literal prefix lets the engine jump
# straight to candidates, which makes a scan of ordinary text several times faster.
# [0-9], not \d: \d also matches other scripts' digits, which no key or card number uses.

#: The built-in set, most specific first: where two detectors overlap, the earlier one wins
#: for :func:`scan`; :func:`redact` removes the union of every match.
DEFAULT_DETECTORS: tuple[Detector, ...] = (
    # A key block cut off before its END line must go too: without an END within 8 KB, the
    # 16 KB after the header go. Headers in any case (some tools write them in lower case).
    detector(
        "private_key", SECRET,
        r"-----begin[ a-z0-9]{0,40}private key( block)?-----"
        r"(?:[\s\S]{0,8192}?-----end[ a-z0-9]{0,40}private key( block)?-----|[\s\S]{0,16384})",
        flags=re.IGNORECASE, requires_ci=("private key",),
    ),
    detector("aws_access_key", SECRET, r"(?:AKIA|ASIA|ABIA|ACCA)(?<![A-Za-z0-9_]....)[0-9A-Z]{16}(?![A-Za-z0-9_])",
             requires=("AKIA", "ASIA", "ABIA", "ACCA")),
    detector(
        "aws_secret_key", SECRET,
        r"aws[_-]?secret(?:[_-]?access)?(?:[_-]?key)?[\"']?[ \t]{0,5}[:=][ \t]{0,5}[\"']?"
        r"([a-z0-9/+]{40})(?![a-z0-9/+])",
        group=1, requires_ci=("secret",), fold_case=True,
    ),
    # A bare AWS secret key: exactly 40 base64 characters mixing cases and digits (a git
    # hash is lower-case hex, so it never matches).
    detector("aws_secret_key", SECRET, f"(?<![{_B64}])[{_B64}]{{40}}(?![{_B64}=])", validator=_mixed,
             requires=_DIGIT_CHARS),
    detector("github_token", SECRET,
             r"(?:gh[pousr]_(?<![A-Za-z0-9_]....)[A-Za-z0-9]{36,255}|github_pat_(?<![A-Za-z0-9_].{11})[A-Za-z0-9_]{22,255})"
             r"(?![A-Za-z0-9_])",
             requires=("gh", "github_pat_")),
    detector("gitlab_token", SECRET, r"glpat-[0-9A-Za-z_-]{20,255}", requires=("glpat-",)),
    detector("npm_token", SECRET, r"npm_[A-Za-z0-9]{36,255}", requires=("npm_",)),
    detector("huggingface_token", SECRET, r"hf_[A-Za-z0-9]{30,255}", requires=("hf_",)),
    detector("stripe_key", SECRET, r"(?:sk|rk|pk)_(?:live|test)_[0-9A-Za-z]{16,255}", requires=("_live_", "_test_")),
    detector("anthropic_key", SECRET, r"sk-ant-(?<![\w-]sk-ant-)[A-Za-z0-9_-]{20,255}", requires=("sk-ant-",)),
    detector("openai_key", SECRET, r"sk-(?<![\w-]sk-)(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,255}", requires=("sk-",)),
    detector("slack_token", SECRET, r"xox[abposr]-(?<![\w-]xox.-)[A-Za-z0-9-]{10,255}", requires=("xox",)),
    detector("slack_webhook", SECRET, r"https://hooks\.slack\.com/services/[A-Za-z0-9/_-]{20,255}",
             requires=("hooks.slack.com",)),
    detector("google_api_key", SECRET, r"AIza(?<![\w-]AIza)[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])", requires=("AIza",)),
    detector("google_oauth", SECRET, r"(?:ya29\.|GOCSPX-)[0-9A-Za-z_-]{20,4096}", requires=("ya29.", "GOCSPX-")),
    detector("jwt", SECRET, r"eyJ(?<![\w-]eyJ)[A-Za-z0-9_-]{5,8192}\.eyJ[A-Za-z0-9_-]{5,8192}\.[A-Za-z0-9_-]{0,8192}",
             requires=("eyJ",)),
    detector("bearer_token", SECRET, r"[Bb](?i:earer)[ \t]{1,5}([A-Za-z0-9._~+/=-]{1,4096})", group=1,
             requires_ci=("bearer",)),
    detector("authorization", SECRET,
             r"[Aa](?i:uthorization)\\{0,2}[\"']?[ \t]{0,5}[:=][ \t]{0,5}\\{0,2}[\"']?(?:[A-Za-z]{1,20}[ \t]{1,5})?"
             r"([^\s\"'\\,;]{1,4096})", group=1, requires_ci=("authorization",)),
    detector("url_credentials", SECRET, r"://[^\s:/@]{1,256}:([^\s/@]{1,256})@[^\s/@]{1,256}", group=1,
             requires=("://",)),
    # Quoted values are taken whole, spaces included ("correct horse battery staple").
    detector("secret_assignment", SECRET, _ASSIGN + r"\\{0,2}\"([^\"\n]{1,4096})\"", group=1, requires=(":", "=")),
    detector("secret_assignment", SECRET, _ASSIGN + r"'([^'\n]{1,4096})'", group=1, requires=(":", "=")),
    detector("secret_assignment", SECRET, _ASSIGN + r"([^\s\"'`,;\\]{1,4096})", group=1, requires=(":", "=")),
    detector("email", PII, r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,24}\b",
             requires=("@",)),
    detector("ssn", PII, r"[0-9]{3}-(?<![0-9-][0-9]{3}-)[0-9]{2}-[0-9]{4}(?![0-9-])", validator=_ssn_valid,
             requires=("-",)),
    detector(
        "card_number", PII,
        r"[0-9]{4}(?<![0-9-][0-9]{4})(?:[0-9]{9,15}|([ -])[0-9]{4}\1[0-9]{4}\1[0-9]{4}[0-9]{0,3}|[ -][0-9]{6}[ -][0-9]{5})"
        r"(?![0-9-])",
        validator=_card_valid, requires=_DIGIT_CHARS,
    ),
    detector(
        "phone", PII,
        # North American shapes: +CC prefix or (area) code may use spaces; a bare number needs
        # a consistent - or . separator, so "200 300 4000" in prose is not a phone number.
        r"(?:\+(?<![\w+]\+)[0-9]{1,3}[ .-]?(?:\([2-9][0-9]{2}\)[ ]?|[2-9][0-9]{2}[ .-])[2-9][0-9]{2}[ .-]"
        r"|\((?<![\w(]\()[2-9][0-9]{2}\)[ ]?[2-9][0-9]{2}[ .-]"
        r"|[2-9][0-9]{2}(?<![\w+(.-][0-9]{3})([.-])[2-9][0-9]{2}\1)"
        r"[0-9]{4}(?![0-9-])",
        requires=_DIGIT_CHARS,
    ),
)


def scan(text: str, detectors: Iterable[Detector] = DEFAULT_DETECTORS) -> list[Finding]:
    """Find secrets and PII in ``text``: non-overlapping findings in text order."""
    found: list[tuple[int, int, int, Detector]] = []
    lowered: str | None = None
    for rank, item in enumerate(detectors):
        if item.requires and not _contains_any(text, item.requires):
            continue
        if item.requires_ci or item.folded is not None:
            if lowered is None:
                lowered = text.lower()
            if item.requires_ci and not _contains_any(lowered, item.requires_ci):
                continue
        pattern, subject = item.pattern, text
        if item.folded is not None and len(lowered) == len(text) and text.isascii():
            pattern, subject = item.folded, lowered
        if item.validator is None:
            for match in pattern.finditer(subject):
                start, end = match.span(item.group)
                if start < end:
                    found.append((start, rank, end, item))
        else:
            _validated(pattern, subject, text, item, rank, found)
    return _without_overlaps(found) if found else []


def _validated(pattern: re.Pattern[str], subject: str, text: str, item: Detector, rank: int, found: list) -> None:
    # A candidate the validator rejects may hide a valid one that starts inside it (a stray
    # group of digits before a card number): search again from the next position, not its end.
    search, validator, pos = pattern.search, item.validator, 0
    while True:
        match = search(subject, pos)
        if match is None:
            return
        start, end = match.span(item.group)
        if start < end and validator(text[start:end]):
            found.append((start, rank, end, item))
            pos = match.end()
        else:
            pos = match.start() + 1


def _contains_any(text: str, needles: tuple[str, ...]) -> bool:
    for needle in needles:
        if needle in text:
            return True
    return False


def _without_overlaps(found: list[tuple[int, int, int, Detector]]) -> list[Finding]:
    found.sort(key=lambda f: (f[0], f[1]))
    kept: list[Finding] = []
    for start, _rank, end, item in found:
        if kept and start < kept[-1].end:
            continue
        kept.append(Finding(item.name, item.category, start, end))
    return kept


def label(name: str) -> str:
    """The text a redacted span is replaced with."""
    return f"[REDACTED:{name}]"


def redact(text: str, detectors: Iterable[Detector] = DEFAULT_DETECTORS) -> str:
    """Replace every secret and PII span in ``text`` with a ``[REDACTED:name]`` label."""
    return replace_spans(text, redaction_spans(text, detectors))


def redaction_spans(text: str, detectors: Iterable[Detector] = DEFAULT_DETECTORS) -> list[Finding]:
    """Every span any detector matches, overlapping ones merged into one: what a redactor removes.

    :func:`scan` keeps the first of two overlapping findings and drops the other, which suits a
    policy check; a redactor must remove the union, or the tail of a key that overlaps a
    broader earlier match would survive. A merged span is labelled as a secret if any part is.
    """
    found: list[tuple[int, int, int, str, str]] = []
    for rank, item in enumerate(detectors):
        found.extend((f.start, rank, f.end, f.detector, f.category) for f in scan(text, (item,)))
    found.sort()
    merged: list[list] = []
    for start, _rank, end, name, category in found:
        if merged and start < merged[-1][1]:
            last = merged[-1]
            last[1] = max(last[1], end)
            if last[3] != SECRET and category == SECRET:
                last[2:] = [name, category]
        else:
            merged.append([start, end, name, category])
    return [Finding(name, category, start, end) for start, end, name, category in merged]


def replace_spans(text: str, findings: list[Finding], labeller: Callable[[str], str] | None = None) -> str:
    """Replace each finding's span (sorted, not overlapping) with ``labeller(detector name)``."""
    if not findings:
        return text
    labeller = labeller or label
    parts: list[str] = []
    cursor = 0
    for finding in findings:
        parts.append(text[cursor:finding.start])
        parts.append(labeller(finding.detector))
        cursor = finding.end
    parts.append(text[cursor:])
    return "".join(parts)


def redact_tree(value: Any, detectors: Iterable[Detector] = DEFAULT_DETECTORS) -> tuple[Any, int]:
    """Redact every string (keys and values) in nested dicts, lists and tuples; return it and a count."""
    detectors = tuple(detectors)
    if isinstance(value, str):
        findings = redaction_spans(value, detectors)
        return replace_spans(value, findings), len(findings)
    if isinstance(value, dict):
        out, total = {}, 0
        for key, item in value.items():
            new_key, n_key = redact_tree(key, detectors)
            if isinstance(key, str) and is_secret_key(key) and isinstance(item, (str, int, float)) \
                    and not isinstance(item, bool):
                out[new_key] = label("secret_assignment")  # {"password": "correct horse ..."}: all of it
                total += n_key + 1
                continue
            new_item, n_item = redact_tree(item, detectors)
            out[new_key] = new_item
            total += n_key + n_item
        return out, total
    if isinstance(value, (list, tuple)):
        pairs = [redact_tree(item, detectors) for item in value]
        items = [p[0] for p in pairs]
        return (items if isinstance(value, list) else tuple(items)), sum(p[1] for p in pairs)
    return value, 0


__all__ = [
    "DEFAULT_DETECTORS", "Detector", "Finding", "MAX_REPEAT", "PII", "RULES_VERSION", "SECRET", "SECRET_KEY_WORDS",
    "UnsafePatternError", "check_pattern", "detector", "is_secret_key", "label", "luhn_valid", "redact",
    "redact_tree", "redaction_spans", "replace_spans", "scan",
]

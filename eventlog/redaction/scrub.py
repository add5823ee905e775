"""Crash-report scrubbing: deny rules, a whitelist-only payload and a stable fingerprint.

One module, pure (no I/O, no clock, no environment), so the client that captures a crash, the
projection that builds the local report, ``lokilog crash submit`` and any future server-side
second scrub all run exactly the same rules.

Three layers, each enough on its own for most leaks, together fail-closed:

1. Deny rules: the shared detectors and redaction engine of :mod:`eventlog.redaction.secrets` (the
   policy redactor runs the same ones) plus the crash additions below (home paths become
   ``~``; IPs, repository names, user names, high-entropy tokens). :func:`scrub_text` and
   :func:`scrub_tree` apply them.
2. Whitelist: :func:`build_payload` keeps exactly the fields of :data:`WHITELIST`, each checked
   against a strict shape (identifiers, enumerations, versions, hashes); anything else is
   dropped, not redacted, so free text (messages, prompts, paths) never reaches a payload.
3. :func:`validate_payload` re-checks a payload from disk before it may leave the machine.

Every pattern goes through :func:`eventlog.redaction.secrets.check_pattern` (bounded, single-character
repeats only), and inputs are cut to :data:`MAX_TEXT` characters and :data:`MAX_DEPTH` levels,
so a scrub finishes in time linear in a bounded input.
"""
from __future__ import annotations

import hashlib
import ipaddress
import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from . import secrets as _secrets
from ..events import parse_timestamp
from .remotes import normalize_remote, project_id_hash, repository_of  # noqa: F401 - part of this module's surface
from .secrets import DEFAULT_DETECTORS, PII, SECRET, Detector, Finding, detector, scan

#: Bump when what the crash rules match or keep changes (the shared set has its own version).
RULES_VERSION = f"{_secrets.RULES_VERSION}.c1"

MAX_TEXT = 64 * 1024
MAX_DEPTH = 32
TOP_FRAMES = 5
UNKNOWN_CLASS = "UnknownError"
UNKNOWN_FRAME = "<unknown>"

#: Detectors whose match is replaced by ``~`` instead of a ``[REDACTED:...]`` label.
HOME_PATH = "home_path"

#: The payload that may leave the machine: these fields and no others (plan, section 5c).
WHITELIST = (
    "os", "arch", "loki_version", "runtime", "error_class", "stack_signature", "rarv_phase", "exit_code",
    "friction_kind", "project_id_hash", "fingerprint", "rules_version", "redactions_count", "captured_at",
)
RARV_PHASES = frozenset({"REASON", "ACT", "REFLECT", "REVIEW", "VERIFY", "CLOSE", "ITERATION"})
FRICTION_KINDS = frozenset({"retry_loop", "rate_limit_loop", "gate_failure"})
RUNTIMES = frozenset({"python", "node", "bun", "deno", "bash"})
#: Known values only, so a host name written into `os` by some emitter cannot pass.
OPERATING_SYSTEMS = frozenset({"Linux", "Darwin", "Windows", "FreeBSD", "OpenBSD", "NetBSD", "SunOS", "AIX"})
ARCHITECTURES = frozenset({"x86_64", "amd64", "arm64", "aarch64", "i386", "i686", "x86", "armv7l", "armv6l",
                           "ppc64le", "ppc64", "s390x", "riscv64", "loongarch64", "mips64"})

_TOKEN_CHARS = "A-Za-z0-9_+/-"


def _ipv6_valid(text: str) -> bool:
    try:
        address = ipaddress.IPv6Address(text)
    except ValueError:
        return False
    # "::", "::1" and "A::B" (a C++ or Ruby scope) are not addresses of anybody.
    return not (address.is_loopback or address.is_unspecified or text.count(":") < 3)


def _high_entropy(text: str) -> bool:
    # Keys and tokens mix upper case, lower case and digits; hex digests, words and
    # identifiers do not, so they are left alone.
    return any(c.isupper() for c in text) and any(c.islower() for c in text) and any(c.isdigit() for c in text)


_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"

#: The crash additions, in priority order; they run after the shared set.
CRASH_EXTRA_DETECTORS: tuple[Detector, ...] = (
    # Every secret rule is in the shared set (eventlog.redaction.secrets), which the policy redactor uses
    # too: one engine. These are what a crash report must also lose: where it ran and who ran it.
    detector(HOME_PATH, PII, r"/(?:home|Users)/[^/\\\s\"'<>:;|,()\[\]{}]{1,255}", requires=("/home/", "/Users/")),
    detector(HOME_PATH, PII, r"[A-Za-z]:(?:\\\\|\\|/)[Uu](?i:sers)(?:\\\\|\\|/)[^\\/\s\"'<>:;|,()\[\]{}]{1,255}",
             requires_ci=("users",)),
    detector("username", PII, r"(?<![A-Za-z0-9_])(?:USER|USERNAME|LOGNAME|user|username)[\"']?[ \t]{0,5}[:=]"
             r"[ \t]{0,5}[\"']?([A-Za-z0-9._-]{1,64})", group=1, requires_ci=("user", "logname")),
    detector("repository", PII, r"(?:github\.com|gitlab\.com|bitbucket\.org|codeberg\.org)[:/]"
             r"([A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_.-]{1,100})", group=1,
             requires=("github.com", "gitlab.com", "bitbucket.org", "codeberg.org")),
    detector("repository", PII, r"git@[A-Za-z0-9.-]{1,253}:([A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_./-]{1,200})",
             group=1, requires=("git@",)),
    detector("ip_address", PII, r"(?<![0-9.])" + _OCTET + r"\." + _OCTET + r"\." + _OCTET + r"\." + _OCTET
             + r"(?![0-9]|\.[0-9])", requires=(".",)),
    # Ends on a hex digit or colon, so a full stop after an address is not taken for part of it.
    detector("ip_address", PII, r"(?<![0-9A-Za-z:.])[0-9A-Fa-f]{0,4}:[0-9A-Fa-f:.]{0,44}[0-9A-Fa-f:]"
             r"(?![0-9A-Za-z:]|\.[0-9A-Za-z])",
             validator=_ipv6_valid, requires=(":",)),
    detector("token", SECRET, f"(?<![{_TOKEN_CHARS}])[{_TOKEN_CHARS}]{{32,4096}}={{0,2}}(?![={_TOKEN_CHARS}])",
             validator=_high_entropy),
)

#: The crash scrubber's deny rules: the shared set, then the crash additions.
CRASH_DETECTORS: tuple[Detector, ...] = DEFAULT_DETECTORS + CRASH_EXTRA_DETECTORS


@dataclass(frozen=True)
class ScrubContext:
    """What the capturing machine knows is private: its home directories, user names, repositories."""

    home_dirs: tuple[str, ...] = ()
    user_names: tuple[str, ...] = ()
    repositories: tuple[str, ...] = ()  # "owner/repo"


_COMMON_NAMES = frozenset({"root", "user", "admin", "runner", "nobody", "ubuntu", "node", "app"})


def detectors_for(context: ScrubContext | None) -> tuple[Detector, ...]:
    """The crash detectors plus literal rules for one machine's home, user and repository names."""
    if context is None:
        return CRASH_DETECTORS
    extra: list[Detector] = []
    for home in sorted(set(context.home_dirs), key=len, reverse=True):
        if len(home.strip("/\\")) >= 3:
            extra.append(detector(HOME_PATH, PII, re.escape(home.rstrip("/\\")), requires=(home.rstrip("/\\"),)))
    for name in sorted(set(context.user_names)):
        if len(name) >= 3 and name.lower() not in _COMMON_NAMES:
            extra.append(detector("username", PII, _word(name), requires=(name,)))
    for repo in sorted(set(context.repositories)):
        extra.append(detector("repository", PII, _word(repo), requires=(repo,)))
        bare = repo.rsplit("/", 1)[-1]
        if len(bare) >= 5:
            extra.append(detector("repository", PII, _word(bare), requires=(bare,)))
    # Literal rules first: a known home directory outside /home (say /srv/jane) still becomes ~.
    return tuple(extra) + CRASH_DETECTORS


def _word(literal: str) -> str:
    return r"(?<![A-Za-z0-9_])" + re.escape(literal) + r"(?![A-Za-z0-9_])"


# ----------------------------------------------------------------------------- deny rules


def bounded(text: str, limit: int = MAX_TEXT) -> str:
    """Cut ``text`` to ``limit`` characters, dropping a token the cut went through (it could be half a key)."""
    if len(text) <= limit:
        return text
    head = text[:limit]
    if not text[limit].isspace():
        cut = max(head.rfind(" "), head.rfind("\n"), head.rfind("\t"))
        head = head[: cut + 1] if cut >= limit - 4096 else head[: limit - 4096]
    return head + "[TRUNCATED]"


def scrub_text(text: str, detectors: Iterable[Detector] = CRASH_DETECTORS) -> tuple[str, int]:
    """Apply the deny rules to one string: return the scrubbed text and how many spans were replaced."""
    text = bounded(text)
    spans = find_spans(text, detectors)
    return _replace(text, spans), len(spans)


def find_spans(text: str, detectors: Iterable[Detector] = CRASH_DETECTORS) -> list[Finding]:
    """Every span any detector matches, overlapping ones merged: the shared redaction engine."""
    return _secrets.redaction_spans(text, detectors)


def _replace(text: str, findings: list[Finding]) -> str:
    return _secrets.replace_spans(text, findings, _scrub_label)


def _scrub_label(name: str) -> str:
    return "~" if name == HOME_PATH else _secrets.label(name)


def scrub_tree(value: Any, detectors: Iterable[Detector] = CRASH_DETECTORS, _depth: int = 0) -> tuple[Any, int]:
    """Scrub every string (keys and values) of nested dicts and lists; a secret-named key loses its value.

    Deeper than :data:`MAX_DEPTH` levels becomes ``[TRUNCATED]``; values that are not JSON
    (objects, bytes) are dropped, since their text form is unknown.
    """
    detectors = tuple(detectors)
    if isinstance(value, str):
        return scrub_text(value, detectors)
    if value is None or isinstance(value, (bool, int, float)):
        return value, 0
    if _depth >= MAX_DEPTH:
        return "[TRUNCATED]", 1
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        total = 0
        for key, item in value.items():
            new_key, n = scrub_text(str(key), detectors)
            if _secrets.is_secret_key(str(key)) and isinstance(item, (str, int, float)) and not isinstance(item, bool):
                new_item, m = _secrets.label("secret_assignment"), 1
            else:
                new_item, m = scrub_tree(item, detectors, _depth + 1)
            out[new_key] = new_item
            total += n + m
        return out, total
    if isinstance(value, (list, tuple)):
        items, total = [], 0
        for item in value:
            new_item, n = scrub_tree(item, detectors, _depth + 1)
            items.append(new_item)
            total += n
        return items, total
    return f"[DROPPED:{type(value).__name__}]", 1


# ------------------------------------------------------------------------ stack signatures

_IDENT = re.compile(r"[A-Za-z_$<][A-Za-z0-9_$.<>-]{0,127}")
_PY_FRAME = re.compile(r'\s{0,16}File "[^"\n]{0,4096}", line [0-9]{1,9}, in ([^\s]{1,256})')
_V8_FRAME = re.compile(r"\s{0,16}at (?:async )?(?:new )?([^\s(]{1,256})(?: \[as [^\]]{1,256}\])? \(")
_V8_BARE = re.compile(r"\s{0,16}at (?:async )?[^\s(]{1,4096}$")
_AT_FRAME = re.compile(r"([A-Za-z_$<][^\s@]{0,255})@")
_ADDRESS = re.compile(r"0x[0-9A-Fa-f]{1,16}")


def stack_signatures(stack: Any) -> list[str]:
    """Return the frames' symbol names, innermost first: no paths, lines, columns or addresses.

    Reads Python tracebacks (the last one, when exceptions were chained), V8 stacks
    (``at fn (file:1:2)``), ``fn@file:1:2`` stacks, and lists of strings or of
    ``{"function"|"name"|"symbol"|"method": ...}`` frames. A name that is not an identifier
    after scrubbing becomes ``<unknown>``.
    """
    if isinstance(stack, str):
        return _text_signatures(bounded(stack))
    if isinstance(stack, (list, tuple)):
        names: list[str] = []
        for frame in stack[:1000]:
            if isinstance(frame, Mapping):
                name = next((frame[k] for k in ("function", "name", "symbol", "method") if k in frame), None)
                names.append(_symbol(name) if isinstance(name, str) else UNKNOWN_FRAME)
            elif isinstance(frame, str):
                names.extend(_text_signatures(bounded(frame, 4096)) or [_symbol(frame)])
        return names
    return []


def _text_signatures(text: str) -> list[str]:
    marker = text.rfind("Traceback (most recent call last):")
    if marker >= 0 or _PY_FRAME.match(text):
        frames = [m.group(1) for m in map(_PY_FRAME.match, text[max(marker, 0):].splitlines()) if m]
        return [_symbol(name) for name in reversed(frames)]  # Python prints outermost first
    names: list[str] = []
    for line in text.splitlines():
        if (m := _V8_FRAME.match(line)) is not None:
            names.append(_symbol(m.group(1)))
        elif _V8_BARE.match(line):
            names.append("<anonymous>")
        elif (m := _AT_FRAME.match(line.strip())) is not None:
            names.append(_symbol(m.group(1)))
    return names


def _symbol(name: Any) -> str:
    if not isinstance(name, str):
        return UNKNOWN_FRAME
    name = _ADDRESS.sub("", name.strip())
    if not _IDENT.fullmatch(name) or scan(name, CRASH_DETECTORS):
        return UNKNOWN_FRAME
    return name


def error_class_of(value: Any) -> str:
    """Normalize an error class to its last dotted part when it is a plain identifier, else UnknownError."""
    if not isinstance(value, str):
        return UNKNOWN_CLASS
    name = value.strip().rsplit(".", 1)[-1]
    if not re.fullmatch(r"[A-Za-z_$][A-Za-z0-9_$]{0,127}", name) or scan(name, CRASH_DETECTORS):
        return UNKNOWN_CLASS
    return name


def fingerprint(error_class: str, signatures: Iterable[str]) -> str:
    """``sha256(error_class + "\\n" + top-5 signatures joined by "\\n")``, hex: the dedup key."""
    top = list(signatures)[:TOP_FRAMES]
    return hashlib.sha256((error_class + "\n" + "\n".join(top)).encode()).hexdigest()


# ------------------------------------------------------------------------- the payload

_HASH = re.compile(r"[0-9a-f]{64}")
_VERSION = re.compile(r"[0-9][0-9A-Za-z.+-]{0,31}")


def build_payload(raw: Mapping[str, Any], timestamp: str,
                  detectors: Iterable[Detector] = CRASH_DETECTORS) -> dict[str, Any]:
    """Turn an ``error`` event's payload into the whitelist-only crash payload (plan, section 5c).

    The whole raw payload is scrubbed first (that is what ``redactions_count`` counts); each
    whitelisted field is then taken from the scrubbed copy only if it has its strict shape.
    """
    scrubbed, count = scrub_tree(dict(raw), detectors)
    error_class = error_class_of(scrubbed.get("error_class"))
    signatures = stack_signatures(scrubbed.get("stack"))[:TOP_FRAMES]
    payload = {
        "os": _os(scrubbed.get("os")),
        "arch": _arch(scrubbed.get("arch")),
        "loki_version": _version(scrubbed.get("loki_version")),
        "runtime": _runtime(scrubbed.get("runtime")),
        "error_class": error_class,
        "stack_signature": signatures,
        "rarv_phase": _phase(scrubbed.get("rarv_phase", scrubbed.get("phase"))),
        "exit_code": _exit_code(scrubbed.get("exit_code")),
        "friction_kind": scrubbed.get("friction_kind") if scrubbed.get("friction_kind") in FRICTION_KINDS else None,
        # A hash is taken as written: it has a strict shape, and a digest can trip the card rule.
        "project_id_hash": _hash(raw.get("project_id_hash")),
        "fingerprint": fingerprint(error_class, signatures),
        "rules_version": RULES_VERSION,
        "redactions_count": count,
        "captured_at": captured_at(timestamp),
    }
    return {key: payload[key] for key in WHITELIST}


def captured_at(timestamp: str) -> str | None:
    """An event timestamp at second precision in UTC: ``2026-02-21T10:00:07Z``."""
    try:
        return parse_timestamp(timestamp).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (ValueError, TypeError):
        return None


def _os(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    known = {name.lower(): name for name in OPERATING_SYSTEMS}
    return known.get(value.lower().replace("win32", "windows"))


def _arch(value: Any) -> str | None:
    return value.lower() if isinstance(value, str) and value.lower() in ARCHITECTURES else None


def _version(value: Any) -> str | None:
    return value if isinstance(value, str) and _VERSION.fullmatch(value) and not scan(value, CRASH_DETECTORS) else None


def _hash(value: Any) -> str | None:
    return value if isinstance(value, str) and _HASH.fullmatch(value) else None


def _phase(value: Any) -> str | None:
    return value.upper() if isinstance(value, str) and value.upper() in RARV_PHASES else None


def _exit_code(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and -255 <= value <= 255 else None


def _runtime(value: Any) -> dict[str, str] | None:
    if not isinstance(value, Mapping):
        return None
    kept = {k: v for k, v in value.items() if k in RUNTIMES and _version(v) is not None}
    return dict(sorted(kept.items())) or None


def validate_payload(payload: Any) -> list[str]:
    """Return why ``payload`` may not leave the machine (empty when it may): the second scrub."""
    if not isinstance(payload, Mapping):
        return ["the payload is not an object"]
    problems = [f"field {key!r} is not on the whitelist" for key in payload if key not in WHITELIST]
    problems += [f"field {key!r} is missing" for key in WHITELIST if key not in payload]
    if problems:
        return problems
    checks = {
        "os": _os, "arch": _arch, "loki_version": _version, "runtime": _runtime, "rarv_phase": _phase,
        "exit_code": _exit_code, "project_id_hash": _hash, "fingerprint": _hash,
        "friction_kind": lambda v: v if v in FRICTION_KINDS else None,
        "rules_version": lambda v: v if v == RULES_VERSION else None,
        "redactions_count": lambda v: v if isinstance(v, int) and not isinstance(v, bool) and v >= 0 else None,
        "captured_at": lambda v: v if isinstance(v, str) and captured_at(v) == v else None,
        "error_class": lambda v: v if error_class_of(v) == v else None,
    }
    for key, check in checks.items():
        value = payload[key]
        if value is not None and check(value) != value:
            problems.append(f"field {key!r} has a value of the wrong shape")
    signatures = payload["stack_signature"]
    if not isinstance(signatures, list) or len(signatures) > TOP_FRAMES or any(_symbol(s) != s for s in signatures):
        problems.append("field 'stack_signature' must list at most 5 symbol names")
    elif payload["fingerprint"] != fingerprint(str(payload["error_class"]), signatures):
        problems.append("the fingerprint does not match error_class and stack_signature")
    return problems


__all__ = [
    "CRASH_DETECTORS", "CRASH_EXTRA_DETECTORS", "FRICTION_KINDS", "HOME_PATH", "MAX_DEPTH", "MAX_TEXT",
    "RARV_PHASES", "RULES_VERSION", "ScrubContext", "TOP_FRAMES", "WHITELIST", "bounded", "build_payload",
    "captured_at", "detectors_for", "error_class_of", "fingerprint", "normalize_remote", "project_id_hash",
    "repository_of", "scrub_text", "scrub_tree", "stack_signatures", "validate_payload",
]

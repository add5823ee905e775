"""Bearer tokens: minting, hashing and matching. Pure: the stores live in token_store.py.

A token is ``lkl_<id>_<secret>``: the id names it in events and listings (it is not secret), the
secret carries 256 random bits. Only ``sha256(token)`` is stored; a token that high in entropy
needs no slow hash, and matching compares digests in constant time against every stored token.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Iterable, Mapping

from eventlog import InvalidEventError
from eventlog.events import format_timestamp, parse_timestamp

READ, CONTROL, AUDIT = "read", "control", "audit"
SCOPES = (READ, CONTROL, AUDIT)
#: What each scope grants beyond itself: control implies read.
_IMPLIED = {CONTROL: frozenset({READ})}
HASH_PREFIX = "sha256:"

#: Loki Mode's API-key roles, as lokilog scopes.
ROLES = {
    "viewer": (READ,),
    "operator": (CONTROL,),
    "auditor": (READ, AUDIT),
    "admin": (CONTROL, AUDIT),
}


class TokenError(InvalidEventError):
    """A token, scope or token record is malformed."""


@dataclass(frozen=True)
class TokenRecord:
    """One stored token: never the token itself, only its digest."""

    id: str
    name: str
    scopes: tuple[str, ...]
    hash: str
    created_at: str
    expires_at: str | None = None
    #: The digest a rotation replaced, valid until ``previous_expires_at`` (a grace period).
    previous_hash: str | None = None
    previous_expires_at: str | None = None
    origin: str = "config"

    @property
    def granted(self) -> frozenset[str]:
        """Every scope this token holds, implied ones included."""
        return grant(self.scopes)

    @property
    def role(self) -> str:
        """The Loki Mode role with exactly these scopes, or the closest one that grants no more."""
        for name, scopes in ROLES.items():
            if grant(scopes) == self.granted:
                return name
        return "viewer"

    def to_dict(self) -> dict:
        out = {"id": self.id, "name": self.name, "scopes": list(self.scopes), "hash": self.hash,
               "created_at": self.created_at}
        for key in ("expires_at", "previous_hash", "previous_expires_at"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out

    def public(self) -> dict:
        """The record without digests: what listings show."""
        return {"id": self.id, "name": self.name, "scopes": list(self.scopes), "role": self.role,
                "created_at": self.created_at, "expires_at": self.expires_at, "origin": self.origin}


@dataclass(frozen=True)
class Minted:
    """A new token: the plain text is returned once and never stored."""

    token: str
    record: TokenRecord


def grant(scopes: Iterable[str]) -> frozenset[str]:
    """Return the scopes held, with implied ones added."""
    held = set(scopes)
    for scope in list(held):
        held |= _IMPLIED.get(scope, frozenset())
    return frozenset(held)


def check_scopes(scopes: Iterable[str]) -> tuple[str, ...]:
    """Return the scopes deduplicated in canonical order; raise TokenError naming an unknown one."""
    given = [s.strip().lower() for s in scopes if s and s.strip()]
    unknown = sorted(set(given) - set(SCOPES))
    if unknown:
        raise TokenError(f"unknown scope(s) {', '.join(unknown)}; choose from {', '.join(SCOPES)}")
    if not given:
        raise TokenError(f"a token needs at least one scope: {', '.join(SCOPES)}")
    return tuple(s for s in SCOPES if s in given)


def scopes_for_role(role: str) -> tuple[str, ...]:
    """Map a Loki Mode role (viewer, operator, auditor, admin) to scopes."""
    try:
        return ROLES[role.strip().lower()]
    except (KeyError, AttributeError):
        raise TokenError(f"unknown role {role!r}; choose from {', '.join(ROLES)}") from None


def digest(token: str) -> str:
    """Return the stored form of a token."""
    return HASH_PREFIX + hashlib.sha256(token.encode("utf-8")).hexdigest()


def mint(name: str | None, scopes: Iterable[str], *, now: datetime | None = None,
         expires_at: str | None = None) -> Minted:
    """Mint a fresh token and its record."""
    token_id = os.urandom(4).hex()
    token = f"lkl_{token_id}_{secrets.token_urlsafe(32)}"
    record = TokenRecord(id=token_id, name=_check_name(name) if name else token_id, scopes=check_scopes(scopes), hash=digest(token),
                         created_at=format_timestamp(now or datetime.now(timezone.utc)), expires_at=expires_at)
    return Minted(token, record)


def rotate(record: TokenRecord, grace_seconds: float, *, now: datetime | None = None) -> Minted:
    """Give a token a new secret; the old one stays valid for ``grace_seconds``."""
    moment = now or datetime.now(timezone.utc)
    token = f"lkl_{record.id}_{secrets.token_urlsafe(32)}"
    until = format_timestamp(datetime.fromtimestamp(moment.timestamp() + max(grace_seconds, 0), timezone.utc))
    rotated = replace(record, hash=digest(token), previous_hash=record.hash if grace_seconds > 0 else None,
                      previous_expires_at=until if grace_seconds > 0 else None)
    return Minted(token, rotated)


def match(token: str, records: Iterable[TokenRecord], *, now: datetime | None = None) -> TokenRecord | None:
    """Return the record a presented token belongs to, or None.

    Every stored digest is compared, with hmac.compare_digest and no early exit, so the time taken
    says nothing about which token (or which prefix of one) came close.
    """
    presented = digest(token).encode()
    moment = now or datetime.now(timezone.utc)
    found = None
    for record in records:
        current = hmac.compare_digest(presented, record.hash.encode())
        previous = record.previous_hash is not None and hmac.compare_digest(presented, record.previous_hash.encode())
        if (current and _alive(record.expires_at, moment)) or (previous and _alive(record.previous_expires_at, moment)):
            found = record
    return found


def _alive(expires_at: str | None, moment: datetime) -> bool:
    if expires_at is None:
        return True
    try:
        return parse_timestamp(expires_at) > moment
    except ValueError:
        return False  # an unreadable expiry fails closed


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not name.strip() or len(name) > 100 or any(ord(c) < 32 for c in name):
        raise TokenError("a token name must be 1-100 printable characters")
    return name.strip()


def record_from_dict(data: Mapping, where: str) -> TokenRecord:
    """Read one stored record, naming the file and entry on error."""
    if not isinstance(data, Mapping):
        raise TokenError(f"{where}: each token must be a mapping")
    try:
        record = TokenRecord(
            id=str(data["id"]), name=str(data.get("name") or data["id"]),
            scopes=check_scopes(data.get("scopes") or ()), hash=str(data["hash"]),
            created_at=str(data.get("created_at") or ""), expires_at=_opt(data.get("expires_at")),
            previous_hash=_opt(data.get("previous_hash")), previous_expires_at=_opt(data.get("previous_expires_at")),
        )
    except KeyError as exc:
        raise TokenError(f"{where}: token without {exc.args[0]!r}") from None
    except TokenError as exc:
        raise TokenError(f"{where}: {exc}") from None
    if not record.hash.startswith(HASH_PREFIX) or len(record.hash) != len(HASH_PREFIX) + 64:
        raise TokenError(f"{where}: token {record.id} has no sha256 digest (tokens are stored hashed, never plain)")
    return record


def _opt(value) -> str | None:
    return None if value is None else str(value)


def records_from_env(text: str | None) -> list[TokenRecord]:
    """Parse ``LOKILOG_SERVE_TOKENS``: ``scope[+scope]:TOKEN`` items separated by commas.

    The environment holds plain tokens (it is where secrets are handed to a process); they are
    hashed on reading and never written anywhere.
    """
    out = []
    for position, item in enumerate(p.strip() for p in (text or "").split(",")):
        if not item:
            continue
        scopes, sep, token = item.partition(":")
        if not sep or len(token) < 16:
            raise TokenError(f"LOKILOG_SERVE_TOKENS item {position + 1}: expected SCOPE[+SCOPE]:TOKEN "
                             "with a token of at least 16 characters")
        out.append(TokenRecord(id=f"env{position + 1}", name=f"env{position + 1}",
                               scopes=check_scopes(scopes.split("+")), hash=digest(token), created_at="",
                               origin="env"))
    return out


__all__ = [
    "AUDIT", "CONTROL", "READ", "ROLES", "SCOPES", "Minted", "TokenError", "TokenRecord", "check_scopes",
    "digest", "grant", "match", "mint", "records_from_env", "rotate", "scopes_for_role",
]

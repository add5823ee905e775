"""Signed tree heads: what is signed, how a head travels as an event, and checking a signature.

The signed message is the compact JSON object of exactly three members, in this order, with no
spaces (what `JSON.stringify({tree_size, root_hash, timestamp})` writes in JavaScript):

    {"tree_size":<int>,"root_hash":"<64 lowercase hex>","timestamp":"<RFC 3339 UTC>"}

signed with Ed25519 (RFC 8032). A head carries the signature and the raw 32-byte public key in
base64, and ``key_id`` = hex SHA-256 of that raw key: an auditor pins the key id (or the key)
out of band and never trusts a key merely because a head names it.

Heads are recorded in the log as events of type ``audit`` with payload
``{"action": "tree_head_signed", tree_size, root_hash, timestamp, signature, public_key, key_id}``,
so a witness reading the log (or the audit chain) can publish them. Checking a signature needs
the ``cryptography`` package (``pip install 'lokilog[audit]'``); proofs do not.
"""
from __future__ import annotations

import base64
import hashlib
import json
import re
from typing import Any

import msgspec

from ..errors import AuditError
from .tree import ProofError

HEAD_TYPE = "audit"
HEAD_ACTION = "tree_head_signed"
EXTRA_HINT = "install the audit extra: pip install 'lokilog[audit]'"
_HEX64 = re.compile(r"[0-9a-f]{64}")


class SigningUnavailableError(AuditError):
    """Signing or checking tree head signatures needs the `cryptography` package (the audit extra)."""


class SignedHead(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A tree head and its Ed25519 signature; ``seq`` is the log seq of the event that recorded it."""

    tree_size: int
    root_hash: str
    timestamp: str
    signature: str
    public_key: str
    key_id: str
    seq: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return msgspec.to_builtins(self)


def head_message(tree_size: int, root_hash: str, timestamp: str) -> bytes:
    """Return the exact bytes a tree head's signature covers."""
    return json.dumps({"tree_size": tree_size, "root_hash": root_hash, "timestamp": timestamp},
                      separators=(",", ":"), ensure_ascii=False).encode()


def key_id(public_key: bytes) -> str:
    return hashlib.sha256(public_key).hexdigest()


def head_payload(head: SignedHead) -> dict[str, Any]:
    """Return the payload of the event that records ``head``."""
    payload = {"action": HEAD_ACTION, **head.to_dict()}
    payload.pop("seq")
    return payload


def head_from_event(event_type: str, payload: dict[str, Any], seq: int) -> SignedHead | None:
    """Return the head an event records, or None when it is not a well-formed head event."""
    if event_type != HEAD_TYPE or payload.get("action") != HEAD_ACTION:
        return None
    fields = {k: v for k, v in payload.items() if k != "action"}
    try:
        head = msgspec.convert({**fields, "seq": seq}, SignedHead)
    except msgspec.ValidationError:
        return None
    return head if _well_formed(head) else None


def parse_head(data: Any) -> SignedHead:
    """Read a head given by a person (a JSON object, as `lokilog audit sth --json` prints it)."""
    if isinstance(data, dict) and data.get("action") == HEAD_ACTION:
        data = {k: v for k, v in data.items() if k != "action"}
    try:
        head = msgspec.convert(data, SignedHead)
    except msgspec.ValidationError as exc:
        raise ProofError(f"not a signed tree head: {exc}") from None
    if not _well_formed(head):
        raise ProofError("not a signed tree head: tree_size must be >= 0 and root_hash 64 lowercase hex digits")
    return head


def _well_formed(head: SignedHead) -> bool:
    return head.tree_size >= 0 and bool(_HEX64.fullmatch(head.root_hash))


def _base64(text: str, what: str) -> bytes:
    # Canonical only: otherwise flipping an unused low bit of the last character would change
    # the head's text but not its bytes, and the altered head would still verify.
    try:
        data = base64.b64decode(text, validate=True)
    except ValueError:
        data = None
    if data is None or base64.b64encode(data).decode() != text:
        raise ProofError(f"the head's {what} is not canonical base64")
    return data


def check_signature(head: SignedHead, pinned_key: str | None = None) -> None:
    """Raise ProofError unless the head's signature verifies under its key (and that key is the pinned one).

    ``pinned_key`` is the base64 public key or its hex key id, known to the auditor out of band.
    """
    public, signature = _base64(head.public_key, "public_key"), _base64(head.signature, "signature")
    if key_id(public) != head.key_id:
        raise ProofError("the head's key_id is not the SHA-256 of its public key")
    if pinned_key is not None and pinned_key not in (head.public_key, head.key_id):
        raise ProofError(f"the head is signed by key {head.key_id}, not by the pinned key")
    try:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    except ImportError:
        raise SigningUnavailableError(f"checking a tree head signature needs `cryptography`: {EXTRA_HINT}") from None
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(signature, head_message(head.tree_size, head.root_hash, head.timestamp))
    except (InvalidSignature, ValueError):
        raise ProofError(f"the signature of the tree head (size {head.tree_size}) does not verify") from None

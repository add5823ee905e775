"""Proof bundles: what `lokilog audit prove` / `consistency` print and `check-proof` verifies.

A bundle is self-contained JSON (hashes in lowercase hex):

    {"type": "inclusion", "seq", "leaf_index", "tree_size", "entry", "leaf_hash", "path", "root_hash", "head"}
    {"type": "consistency", "old_size", "new_size", "old_root", "new_root", "path", "head", "old_head"}

``entry`` is the audit entry's stored line without its ``\\n``; ``head`` a signed tree head of
``tree_size`` (``new_size``) leaves, or null when none was signed at that size. Checking needs
only the bundle, the entry and a head: the head the auditor kept overrides the bundle's own.
Checking is pure; nothing here reads the log.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from .heads import SignedHead, SigningUnavailableError, check_signature, parse_head
from .tree import ProofError, leaf_hash, verify_consistency, verify_inclusion

INCLUSION = "inclusion"
CONSISTENCY = "consistency"


def inclusion_bundle(seq: int, index: int, size: int, entry: bytes | None, leaf: bytes, path: list[bytes],
                     root: bytes, head: SignedHead | None) -> dict[str, Any]:
    """Assemble an inclusion proof bundle."""
    return {"type": INCLUSION, "seq": seq, "leaf_index": index, "tree_size": size,
            "entry": entry.decode() if entry is not None else None, "leaf_hash": leaf.hex(),
            "path": [p.hex() for p in path], "root_hash": root.hex(), "head": _head(head)}


def consistency_bundle(old_size: int, new_size: int, old_root: bytes, new_root: bytes, path: list[bytes],
                       head: SignedHead | None, old_head: SignedHead | None) -> dict[str, Any]:
    """Assemble a consistency proof bundle."""
    return {"type": CONSISTENCY, "old_size": old_size, "new_size": new_size, "old_root": old_root.hex(),
            "new_root": new_root.hex(), "path": [p.hex() for p in path], "head": _head(head),
            "old_head": _head(old_head)}


def _head(head: SignedHead | None) -> dict[str, Any] | None:
    if head is None:
        return None
    data = head.to_dict()
    data.pop("seq", None)
    return data


@dataclass
class CheckResult:
    """The outcome of checking one bundle; ``checks`` says what was established, in order."""

    valid: bool = False
    type: str | None = None
    checks: list[str] = field(default_factory=list)
    error: str | None = None
    signed: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_bundle(bundle: Any, *, entry: bytes | None = None, head: Any = None, old_head: Any = None,
                 pinned_key: str | None = None) -> CheckResult:
    """Verify a bundle; ``entry``/``head``/``old_head`` given by the auditor replace the bundle's own."""
    result = CheckResult()
    try:
        if not isinstance(bundle, dict):
            raise ProofError("a proof bundle is a JSON object")
        result.type = bundle.get("type")
        if result.type == INCLUSION:
            _check_inclusion(bundle, entry, head, pinned_key, result)
        elif result.type == CONSISTENCY:
            _check_consistency(bundle, head, old_head, pinned_key, result)
        else:
            raise ProofError(f'a proof bundle\'s "type" is "{INCLUSION}" or "{CONSISTENCY}", not {result.type!r}')
        result.valid = True
    except (ProofError, SigningUnavailableError) as exc:
        result.error = str(exc)
    return result


def _check_inclusion(bundle: dict, entry: bytes | None, head: Any, pinned_key: str | None, result: CheckResult) -> None:
    if entry is None:
        text = bundle.get("entry")
        if not isinstance(text, str):
            raise ProofError("the bundle carries no entry: give it (the stored line) with --entry")
        entry = text.encode()
    index, size = _int(bundle, "leaf_index"), _int(bundle, "tree_size")
    leaf = leaf_hash(entry)
    if "leaf_hash" in bundle and bundle["leaf_hash"] is not None and _hex(bundle["leaf_hash"]) != leaf:
        raise ProofError("the entry does not hash to the proof's leaf_hash (the entry was altered)")
    root = _root(bundle, "root_hash", size, head if head is not None else bundle.get("head"), pinned_key, result, "")
    verify_inclusion(index, size, leaf, _path(bundle), root)
    result.checks.append(f"entry is leaf {index} of the tree of size {size} with root {root.hex()}")


def _check_consistency(bundle: dict, head: Any, old_head: Any, pinned_key: str | None, result: CheckResult) -> None:
    old_size, new_size = _int(bundle, "old_size"), _int(bundle, "new_size")
    old_root = _root(bundle, "old_root", old_size, old_head if old_head is not None else bundle.get("old_head"),
                     pinned_key, result, "old ")
    new_root = _root(bundle, "new_root", new_size, head if head is not None else bundle.get("head"),
                     pinned_key, result, "new ")
    verify_consistency(old_size, new_size, old_root, new_root, _path(bundle))
    result.checks.append(f"the tree of size {old_size} is a prefix of the tree of size {new_size}")


def _root(bundle: dict, key: str, size: int, head: Any, pinned_key: str | None, result: CheckResult, which: str) -> bytes:
    """The root to verify against: a signed head's (checked first) when there is one, else the bundle's."""
    if head is None:
        result.checks.append(f"{which}root {bundle.get(key)} taken from the bundle: NOT signed, compare it yourself")
        return _hex(bundle.get(key))
    parsed = head if isinstance(head, SignedHead) else parse_head(head)
    if parsed.tree_size != size:
        raise ProofError(f"the {which}head is for a tree of size {parsed.tree_size}, the proof for size {size}")
    check_signature(parsed, pinned_key)
    pin = "the pinned key" if pinned_key else f"key {parsed.key_id} (the head's own: pin it with --public-key)"
    result.checks.append(f"{which}head of size {size} signed by {pin}, timestamp {parsed.timestamp}")
    result.signed = True
    return _hex(parsed.root_hash)


def _int(bundle: dict, key: str) -> int:
    value = bundle.get(key)
    if type(value) is not int or value < 0:
        raise ProofError(f"the bundle's {key} must be an integer >= 0, got {value!r}")
    return value


def _path(bundle: dict) -> list[bytes]:
    path = bundle.get("path")
    if not isinstance(path, list):
        raise ProofError("the bundle's path must be a list of hex hashes")
    return [_hex(p) for p in path]


def _hex(value: Any) -> bytes:
    if not isinstance(value, str) or len(value) != 64:
        raise ProofError(f"not a SHA-256 hash in hex: {value!r}")
    try:
        data = bytes.fromhex(value)
    except ValueError:
        raise ProofError(f"not a SHA-256 hash in hex: {value!r}") from None
    if data.hex() != value:
        raise ProofError(f"hashes are written in lowercase hex: {value!r}")
    return data

"""RFC 9162 Merkle tree hashing, proofs and their verification. Pure: no files, stdlib only.

Leaves are the audit entries' stored lines (without ``\\n``): ``leaf = SHA-256(0x00 || line)``,
``node = SHA-256(0x01 || left || right)``, the empty tree's root ``SHA-256("")``. A tree of n
leaves splits at k, the largest power of two below n (RFC 9162 section 2.1.1). Proofs are built
over a ``subtree(start, end)`` callback, so the node store answers them with O(log n) reads;
the verifiers follow the RFC's algorithms (sections 2.1.3.2 and 2.1.4.2) step by step.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

from ..errors import AuditError

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
_sha256 = hashlib.sha256

#: subtree(start, end) -> the hash of leaves [start, end)
Subtree = Callable[[int, int], bytes]


class ProofError(AuditError):
    """A proof, an entry or a tree head does not verify (or a proof was asked for beyond the tree)."""


def leaf_hash(entry: bytes) -> bytes:
    """Hash one leaf: SHA-256(0x00 || entry)."""
    return _sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Hash an interior node: SHA-256(0x01 || left || right)."""
    return _sha256(b"\x01" + left + right).digest()


def split_point(n: int) -> int:
    """The largest power of two strictly below ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


class Frontier:
    """The tree's right edge: the roots of its perfect subtrees, largest first (one per set bit of size).

    Appending a leaf merges O(log n) of them; the root folds them right to left. This is the
    whole state the projection keeps to append and to know its root.
    """

    __slots__ = ("size", "nodes")

    def __init__(self, size: int = 0, nodes: Sequence[bytes] = ()) -> None:
        if len(nodes) != bin(size).count("1"):
            raise ValueError(f"a frontier of size {size} has {bin(size).count('1')} nodes, not {len(nodes)}")
        self.size = size
        self.nodes = list(nodes)

    def append(self, leaf: bytes) -> None:
        """Add one leaf hash to the right of the tree."""
        self.size = extend_frontier(self.nodes, self.size, leaf)

    def root(self) -> bytes:
        """Return the root hash of the tree so far (SHA-256("") when empty)."""
        return fold_right(self.nodes) if self.nodes else EMPTY_ROOT


def extend_frontier(nodes: list[bytes], size: int, leaf: bytes) -> int:
    """Append a leaf to the frontier ``nodes`` of a tree of ``size`` leaves (in place); return the new size."""
    h, n = leaf, size
    while n & 1:
        h = _sha256(b"\x01" + nodes.pop() + h).digest()
        n >>= 1
    nodes.append(h)
    return size + 1


def fold_right(nodes: Sequence[bytes]) -> bytes:
    """Combine perfect subtree roots (largest first) into the root of their concatenation."""
    root = nodes[-1]
    for node in reversed(nodes[:-1]):
        root = node_hash(node, root)
    return root


def root_of(leaves: Sequence[bytes]) -> bytes:
    """Return MTH(D[n]) of leaf hashes, straight from the RFC's recursive definition (the test oracle)."""
    if not leaves:
        return EMPTY_ROOT
    if len(leaves) == 1:
        return leaves[0]
    k = split_point(len(leaves))
    return node_hash(root_of(leaves[:k]), root_of(leaves[k:]))


# ---------------------------------------------------------------------- proofs

def inclusion_path(index: int, size: int, subtree: Subtree) -> list[bytes]:
    """Return PATH(index, D[size]) (RFC 9162 2.1.3.1), nearest sibling first."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is not in a tree of size {size}")
    path: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        k = split_point(end - start)
        if index < start + k:
            path.append(subtree(start + k, end))
            end = start + k
        else:
            path.append(subtree(start, start + k))
            start += k
    path.reverse()
    return path


def consistency_path(old_size: int, new_size: int, subtree: Subtree) -> list[bytes]:
    """Return PROOF(old_size, D[new_size]) (RFC 9162 2.1.4.1); empty when old_size is 0 or equal."""
    if not 0 <= old_size <= new_size:
        raise ProofError(f"no consistency proof from size {old_size} to size {new_size}")
    if old_size in (0, new_size):
        return []
    path: list[bytes] = []
    start, end, m, whole = 0, new_size, old_size, True
    while True:
        if m == end - start:
            if not whole:
                path.append(subtree(start, end))
            break
        k = split_point(end - start)
        if m <= k:
            path.append(subtree(start + k, end))
            end = start + k
        else:
            path.append(subtree(start, start + k))
            start, m, whole = start + k, m - k, False
    path.reverse()
    return path


# ---------------------------------------------------------------------- verification

def root_from_inclusion(index: int, size: int, leaf: bytes, path: Sequence[bytes]) -> bytes:
    """Recompute the root from a leaf hash and its inclusion path (RFC 9162 2.1.3.2)."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is not in a tree of size {size}")
    _check_hashes([leaf, *path])
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            raise ProofError("the inclusion path is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("the inclusion path is shorter than the tree is deep")
    return r


def verify_inclusion(index: int, size: int, leaf: bytes, path: Sequence[bytes], root: bytes) -> None:
    """Raise ProofError unless ``path`` proves leaf ``index`` in the tree of ``size`` with ``root``."""
    if root_from_inclusion(index, size, leaf, path) != root:
        raise ProofError(f"the inclusion proof of leaf {index} does not lead to the root of size {size}")


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes,
                       path: Sequence[bytes]) -> None:
    """Raise ProofError unless ``path`` proves the tree of ``old_size`` is a prefix of ``new_size``'s."""
    _check_hashes([old_root, new_root, *path])
    if not 0 <= old_size <= new_size:
        raise ProofError(f"size {old_size} cannot be a prefix of size {new_size}")
    if old_size == new_size:
        if path or old_root != new_root:
            raise ProofError("equal sizes need an empty proof and equal roots")
        return
    if old_size == 0:
        if path:
            raise ProofError("a proof from the empty tree must be empty")
        return
    if not path:
        raise ProofError("the consistency proof is empty")
    nodes = list(path)
    if old_size & (old_size - 1) == 0:  # a perfect old tree is its own first node
        nodes.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = nodes[0]
    for c in nodes[1:]:
        if sn == 0:
            raise ProofError("the consistency proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("the consistency proof is shorter than the tree is deep")
    if fr != old_root:
        raise ProofError(f"the consistency proof does not lead to the old root (size {old_size}): "
                         "the old tree is not a prefix of the new one")
    if sr != new_root:
        raise ProofError(f"the consistency proof does not lead to the new root (size {new_size})")


def _check_hashes(hashes: Sequence[bytes]) -> None:
    for h in hashes:
        if len(h) != HASH_SIZE:
            raise ProofError(f"a hash in the proof has {len(h)} bytes, not {HASH_SIZE}")

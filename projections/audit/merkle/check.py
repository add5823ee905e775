"""Verify the node store at rest: every node against its children, the root, the leaves against the chain.

Proofs read one node per level and trust the store; this walk is what notices a bit flipped in
it (`lokilog audit verify` runs it). It reads every file once, in chunks: O(n) hashes, like the
chain's own verification. Reads only; never takes a lock (bytes past `tree.json` are ignored).
"""
from __future__ import annotations

import hashlib
import os
import struct
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import msgspec

from eventlog import FileEventLog

from ..entry import GENESIS, split_line
from ..files import audit_dir, chain_files, iter_lines, read_head_record
from .store import META, SEQS, TreeMeta, level_name, merkle_dir
from .tree import EMPTY_ROOT, HASH_SIZE, fold_right

_CHUNK_NODES = 1 << 15


@dataclass
class TreeCheck:
    """The outcome: ``present`` is False when no node store was written yet (not an error)."""

    present: bool = False
    valid: bool = True
    size: int = 0
    root: str | None = None
    checkedLeaves: int = 0
    error: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


class _Broken(Exception):
    pass


def verify_tree(loki_dir: Path) -> TreeCheck:
    """Recompute the node store bottom-up and compare it with `tree.json` and the chain's entries."""
    directory = merkle_dir(loki_dir)
    result = TreeCheck()
    try:
        raw = (directory / META).read_bytes()
    except FileNotFoundError:
        return result
    result.present = True
    try:
        meta = msgspec.json.decode(raw, type=TreeMeta)
        result.size, result.root = meta.size, meta.root
        _check_levels(directory, meta.size)
        root = _root(directory, meta.size)
        if root.hex() != meta.root:
            raise _Broken(f"{META} records root {meta.root}, the nodes give {root.hex()}")
        result.checkedLeaves = _check_leaves(Path(loki_dir), directory, meta)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        result.valid, result.error = False, f"{META} is damaged ({exc})"
    except _Broken as broken:
        result.valid, result.error = False, str(broken)
    return result


def _chunks(path: Path, count: int, size: int, per_chunk: int) -> Iterator[bytes]:
    """Yield the first ``count`` records of ``size`` bytes of ``path``, ``per_chunk`` at a time."""
    try:
        handle = open(path, "rb")
    except FileNotFoundError:
        if count:
            raise _Broken(f"{path.name} is missing") from None
        return
    with handle:
        left = count
        while left:
            want = min(left, per_chunk)
            data = handle.read(want * size)
            if len(data) != want * size:
                raise _Broken(f"{path.name} is shorter than {META} says")
            yield data
            left -= want


def _check_levels(directory: Path, size: int) -> None:
    sha = hashlib.sha256
    for level in range(max(size.bit_length() - 1, 0)):
        parents = size >> (level + 1)
        children = _chunks(directory / level_name(level), parents * 2, HASH_SIZE, _CHUNK_NODES * 2)
        index = 0
        for chunk in _chunks(directory / level_name(level + 1), parents, HASH_SIZE, _CHUNK_NODES):
            below = next(children)
            for at in range(0, len(chunk), HASH_SIZE):
                pair = below[2 * at:2 * at + 2 * HASH_SIZE]
                if sha(b"\x01" + pair).digest() != chunk[at:at + HASH_SIZE]:
                    raise _Broken(f"node {index} of level {level + 1} is not the hash of its children (altered)")
                index += 1


def _root(directory: Path, size: int) -> bytes:
    if not size:
        return EMPTY_ROOT
    nodes = []
    for level in reversed(range(size.bit_length())):
        if size >> level & 1:
            with open(directory / level_name(level), "rb") as handle:
                handle.seek(((size >> level) - 1) * HASH_SIZE)
                nodes.append(handle.read(HASH_SIZE))
    return fold_right(nodes)


def _check_leaves(loki_dir: Path, directory: Path, meta: TreeMeta) -> int:
    """Compare each retained chain entry with its leaf and seq, and the last with `tree.json`; return how many."""
    size = meta.size
    if not size and meta.chain_head != GENESIS:
        raise _Broken(f"{META}: an empty tree continues from chain head {GENESIS}, not {meta.chain_head}")
    record = read_head_record(audit_dir(loki_dir))
    first = record.pruned.entries if record and record.pruned else 0
    seqs = _chunks(directory / SEQS, size, 8, _CHUNK_NODES)
    leaves = _chunks(directory / level_name(0), size, HASH_SIZE, _CHUNK_NODES)
    last = 0
    index = checked = 0
    sha = hashlib.sha256
    lines = iter_lines(chain_files(audit_dir(loki_dir)))
    for seq_chunk, leaf_chunk in zip(seqs, leaves):
        for at, seq in enumerate(struct.unpack(f">{len(seq_chunk) // 8}Q", seq_chunk)):
            if seq <= last:
                raise _Broken(f"leaf {index} has seq {seq}, not after seq {last} ({SEQS} altered)")
            last = seq
            if index >= first:
                line = next(lines, None)
                if line is not None:
                    if sha(b"\x00" + line).digest() != leaf_chunk[at * HASH_SIZE:(at + 1) * HASH_SIZE]:
                        raise _Broken(f"leaf {index} (seq {seq}) is not the hash of the chain's entry for it")
                    if not line.startswith(b'{"seq":%d,' % seq):
                        raise _Broken(f"leaf {index} says seq {seq}, the chain's entry at that position does not")
                    stored = split_line(line) if index == size - 1 else None
                    if stored is not None and stored[1] != meta.chain_head:
                        raise _Broken(f"{META} says the chain's head is {meta.chain_head}, its last leaf's entry "
                                      f"has hash {stored[1]}")
                    checked += 1
            index += 1
    with FileEventLog(loki_dir) as log:
        head = log.head_seq
    if not last <= meta.seq <= head:
        raise _Broken(f"{META} says the log was read to seq {meta.seq}, but its last leaf is seq {last} "
                      f"and the log ends at seq {head}")
    return checked

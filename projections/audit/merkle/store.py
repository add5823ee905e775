"""The node store: every perfect subtree's hash, by level and index, in append-only files.

Layout, in `<audit dir>/merkle/`:

``level-LL.bin``
    The hashes of level LL (00 = leaves), 32 bytes each: node i of level k covers leaves
    [i * 2^k, (i + 1) * 2^k). Only complete nodes are stored, so a node never changes once
    written and the files only grow; a tree of n leaves holds n >> k nodes at level k.
``seqs.bin``
    The log seq of each leaf, 8 bytes big-endian: seq -> leaf index is a bisection.
``tree.json``
    ``{format, size, seq, chain_head, root}``, replaced atomically after the level files are
    fsynced: the size readers trust, and where in the log the writer resumes. Bytes past it
    (a kill between append and record) are cut by the next writer.

A proof reads one node per level (the right edge of a tree whose size is not a power of two
costs one more node per level), so any proof takes O(log n) reads of 32 bytes.
"""
from __future__ import annotations

import bisect
import hashlib
import os
import struct
from pathlib import Path

import msgspec

from eventlog.fsutil import atomic_write, fsync_dir

from ..entry import GENESIS
from ..files import audit_dir
from .tree import EMPTY_ROOT, HASH_SIZE, ProofError, consistency_path, inclusion_path, node_hash, split_point

FORMAT = 1
META = "tree.json"
SEQS = "seqs.bin"
_MAX_LEVELS = 64
_FLUSH_NODES = 1 << 16


class TreeMeta(msgspec.Struct, kw_only=True):
    format: int = FORMAT
    size: int = 0
    seq: int = 0
    chain_head: str = GENESIS
    root: str = EMPTY_ROOT.hex()


def merkle_dir(loki_dir: Path) -> Path:
    """Return the node store's directory, beside the chain's files."""
    return audit_dir(Path(loki_dir)) / "merkle"


def level_name(level: int) -> str:
    return f"level-{level:02d}.bin"


class NodeStore:
    """One tree's node files: appended by one writer (under the projection lock), read by anyone."""

    def __init__(self, directory: Path, *, writable: bool = False) -> None:
        self.directory = Path(directory)
        self.writable = writable
        self._fds: dict[str, int] = {}
        self.meta = self._read_meta()
        self.size = self.meta.size
        self._flushed = self.size
        self._buffers: list[list[bytes]] = [[] for _ in range(_MAX_LEVELS)]
        self._seqs: list[int] = []
        self._pending = 0
        self._new_file = False
        self._written: set[int] = set()  # fds written since the last flush: only they need an fsync
        if writable:
            self.directory.mkdir(parents=True, exist_ok=True)
            if not self._cut_to_meta():
                self.reset()
        self._frontier = self._load_frontier()

    # ------------------------------------------------------------------ files

    def _read_meta(self) -> TreeMeta:
        try:
            meta = msgspec.json.decode((self.directory / META).read_bytes(), type=TreeMeta)
        except FileNotFoundError:
            return TreeMeta()
        except (msgspec.DecodeError, UnicodeDecodeError):
            if not self.writable:
                raise ProofError(f"{self.directory / META} is damaged; `lokilog rebuild` rewrites the node store") from None
            return TreeMeta(size=-1)  # forces a reset below
        if meta.format != FORMAT:
            raise ProofError(f"{self.directory / META}: unknown node store format {meta.format}")
        return meta

    def _fd(self, name: str) -> int:
        fd = self._fds.get(name)
        if fd is None:
            flags = (os.O_RDWR | os.O_CREAT) if self.writable else os.O_RDONLY
            try:
                fd = os.open(self.directory / name, flags | os.O_CLOEXEC, 0o644)
            except FileNotFoundError:
                raise ProofError(f"{self.directory / name} is missing; `lokilog rebuild` rewrites the node store") from None
            self._fds[name] = fd
        return fd

    def _cut_to_meta(self) -> bool:
        """Cut every file to the recorded size; False when one is shorter (damaged: start over)."""
        size = self.meta.size
        if size < 0:
            return False
        for name, length in [(SEQS, size * 8)] + [(level_name(k), (size >> k) * HASH_SIZE) for k in range(_MAX_LEVELS)]:
            path = self.directory / name
            try:
                actual = path.stat().st_size
            except FileNotFoundError:
                actual = 0
            if actual < length:
                return False
            if actual > length:
                os.truncate(path, length)
            if not length and name != SEQS and not actual:
                break  # no higher level holds anything either
        return True

    def reset(self) -> None:
        """Empty the store (a rewritten log, or damaged files): the writer then rebuilds it."""
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()
        self._written.clear()
        for name in os.listdir(self.directory):
            if name == SEQS or name.startswith("level-"):
                os.truncate(self.directory / name, 0)
        self.meta = TreeMeta()
        atomic_write(self.directory / META, msgspec.json.encode(self.meta) + b"\n")
        self.size = self._flushed = self._pending = 0
        self._buffers = [[] for _ in range(_MAX_LEVELS)]
        self._seqs = []
        self._frontier = []

    def _load_frontier(self) -> list[bytes]:
        n = self.size
        return [self.node(k, (n >> k) - 1) for k in reversed(range(n.bit_length())) if n >> k & 1]

    # ------------------------------------------------------------------ writing

    def append(self, leaf: bytes, seq: int) -> None:
        """Add one leaf hash (and its log seq); new nodes go to memory until :meth:`flush`."""
        n, h, level, nodes, buffers = self.size, leaf, 0, self._frontier, self._buffers
        buffers[0].append(h)
        sha = hashlib.sha256
        while n & 1:
            h = sha(b"\x01" + nodes.pop() + h).digest()
            level += 1
            n >>= 1
            buffers[level].append(h)
        nodes.append(h)
        self._seqs.append(seq)
        self.size += 1
        self._pending += 1
        if self._pending >= _FLUSH_NODES:
            self._write_buffers()

    def _write_buffers(self) -> None:
        flushed, buffers = self._flushed, self._buffers
        for level in range(self.size.bit_length()):
            buffer = buffers[level]
            if buffer:
                self._new_file |= level_name(level) not in self._fds and not (self.directory / level_name(level)).exists()
                fd = self._fd(level_name(level))
                os.pwrite(fd, b"".join(buffer), (flushed >> level) * HASH_SIZE)
                self._written.add(fd)
                buffer.clear()
        if self._seqs:
            fd = self._fd(SEQS)
            os.pwrite(fd, struct.pack(f">{len(self._seqs)}Q", *self._seqs), flushed * 8)
            self._written.add(fd)
            self._seqs.clear()
        self._flushed = self.size
        self._pending = 0

    def flush(self, *, seq: int, chain_head: str, durable: bool = True) -> None:
        """Write buffered nodes, fsync them, then record the new size (and where the log was read to)."""
        self._write_buffers()
        if durable:
            for fd in self._written:
                os.fsync(fd)
            self._written.clear()
            if self._new_file:
                fsync_dir(self.directory)
                self._new_file = False
        self.meta = TreeMeta(size=self.size, seq=seq, chain_head=chain_head, root=self.root().hex())
        atomic_write(self.directory / META, msgspec.json.encode(self.meta) + b"\n", durable=durable)

    # ------------------------------------------------------------------ reading

    def node(self, level: int, index: int) -> bytes:
        """Return node ``index`` of ``level`` (it must be complete in the tree written so far)."""
        if not 0 <= index < self._flushed >> level:
            raise ProofError(f"node {index} of level {level} is not in the stored tree of size {self._flushed}")
        data = os.pread(self._fd(level_name(level)), HASH_SIZE, index * HASH_SIZE)
        if len(data) != HASH_SIZE:
            raise ProofError(f"{self.directory / level_name(level)} is shorter than {META} says")
        return data

    def subtree(self, start: int, end: int) -> bytes:
        """Return the hash of leaves [start, end): one stored node when perfect, else split (O(log n))."""
        width = end - start
        if width & (width - 1) == 0:
            if start & (width - 1):
                raise ValueError(f"[{start}, {end}) is not a node of the tree")
            level = width.bit_length() - 1
            return self.node(level, start >> level)
        k = split_point(width)
        return node_hash(self.subtree(start, start + k), self.subtree(start + k, end))

    def root(self, size: int | None = None) -> bytes:
        """Return the root of the first ``size`` leaves (default: all)."""
        size = self.size if size is None else size
        if size > self.size or size < 0:
            raise ProofError(f"the tree has {self.size} leaves, not {size}")
        if size == self.size and self._frontier:
            root = self._frontier[-1]
            for node in reversed(self._frontier[:-1]):
                root = node_hash(node, root)
            return root
        return self.subtree(0, size) if size else EMPTY_ROOT

    def inclusion(self, index: int, size: int | None = None) -> list[bytes]:
        """Return the inclusion path of leaf ``index`` in the tree of ``size`` leaves."""
        size = self._flushed if size is None else size
        self._check_size(size)
        return inclusion_path(index, size, self.subtree)

    def consistency(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """Return the consistency path from ``old_size`` to ``new_size`` leaves."""
        new_size = self._flushed if new_size is None else new_size
        self._check_size(new_size)
        return consistency_path(old_size, new_size, self.subtree)

    def _check_size(self, size: int) -> None:
        if size > self._flushed:
            raise ProofError(f"the tree has {self._flushed} leaves; no proof for size {size}")

    def seq_of(self, index: int) -> int:
        """Return the log seq of leaf ``index``."""
        if not 0 <= index < self._flushed:
            raise ProofError(f"leaf {index} is not in the tree of size {self._flushed}")
        return struct.unpack(">Q", os.pread(self._fd(SEQS), 8, index * 8))[0]

    def index_of(self, seq: int) -> int | None:
        """Return the leaf index of the entry for log seq ``seq`` (a bisection), or None."""
        seqs = _SeqView(self)
        i = bisect.bisect_left(seqs, seq)
        return i if i < len(seqs) and seqs[i] == seq else None

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()

    def __enter__(self) -> NodeStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _SeqView:
    """`seqs.bin` as a read-only sequence, for bisect."""

    def __init__(self, store: NodeStore) -> None:
        self._store = store

    def __len__(self) -> int:
        return self._store._flushed

    def __getitem__(self, index: int) -> int:
        return self._store.seq_of(index)

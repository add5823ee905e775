"""The Merkle projection: an RFC 9162 tree over the audit entries, its frontier the state.

Each audited event becomes the audit entry the chain writes for it (same selection, same
bytes) and that entry's line one leaf. The state holds the frontier (one node per set bit of
the tree size), so folding an event costs O(log n) and a rebuild from seq 1 yields the same
state byte for byte; the view is the node store (`store.py`), which proofs are read from.
Signed tree heads recorded in the log are folded too, so the newest ones travel with the state.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import msgspec

from eventlog import Event, FileEventLog

from ..entry import GENESIS, chain_after, entry_line
from ..errors import AuditChainError
from ..settings import AuditSettings
from .heads import HEAD_TYPE, SignedHead, head_from_event
from .store import NodeStore, merkle_dir
from .tree import EMPTY_ROOT, extend_frontier, fold_right

#: Signed heads kept in the state, newest last (proofs are offered against these sizes).
MAX_HEADS = 64


class MerkleState(msgspec.Struct):
    """The tree after the events folded so far."""

    seq: int = 0
    size: int = 0
    chain_head: str = GENESIS
    frontier: list[bytes] = msgspec.field(default_factory=list)
    heads: list[SignedHead] = msgspec.field(default_factory=list)
    #: True while the newest head covers every leaf but the head events recorded after it.
    head_current: bool = False

    def root(self) -> bytes:
        return fold_right(self.frontier) if self.frontier else EMPTY_ROOT

    def head_for(self, size: int) -> SignedHead | None:
        """Return the newest recorded head of ``size`` leaves, if any."""
        return next((h for h in reversed(self.heads) if h.tree_size == size), None)


class MerkleProjection:
    """Keeps the audit entries' Merkle tree; writes `<audit dir>/merkle/` (docs/AUDIT.md)."""

    name = "audit-merkle"
    version = 1
    state_type = MerkleState
    #: fnmatch patterns over the event types this projection reads: all of them, since the
    #: audit selection (LOKI_AUDIT_EVENTS) may name any type, and heads are type "audit".
    types: tuple[str, ...] = ("*",)
    #: A ledger: a rollback is one more leaf, never a rewind.
    rewindable = False
    views = (merkle_dir(Path("")).as_posix(),)

    def __init__(self, settings: AuditSettings | None = None) -> None:
        self.settings = settings or AuditSettings.from_env()
        self._audits = self.settings.selection.audits
        self.block_memo = self.settings.fold_key()  # projections/engine/blocks.py

    def initial(self) -> MerkleState:
        return MerkleState()

    def apply(self, state: MerkleState, event: Event) -> MerkleState:
        # Never raises for an audited event: a dead-lettered event would leave a leaf out.
        state.seq = event.seq
        head = head_from_event(event.type, event.payload, event.seq) if event.type == HEAD_TYPE else None
        if head is not None:
            state.heads.append(head)
            del state.heads[:-MAX_HEADS]
            state.head_current = head.tree_size == state.size and head.root_hash == state.root().hex()
        if self._audits(event):
            line, state.chain_head = entry_line(event, state.chain_head)
            state.size = extend_frontier(state.frontier, state.size, hashlib.sha256(b"\x00" + line[:-1]).digest())
            state.head_current = state.head_current and head is not None
        return state

    def write_views(self, state: MerkleState, loki_dir: Path) -> None:
        """Extend the node store to the state (rebuilding it when it does not match the state's root)."""
        loki_dir = Path(loki_dir)
        with NodeStore(merkle_dir(loki_dir), writable=True) as store:
            for attempt in range(2):
                if store.meta.seq > state.seq or store.size > state.size or attempt:
                    store.reset()
                if store.meta.seq < state.seq:
                    self._extend(store, loki_dir, state.seq, state.chain_head)
                if store.size == state.size and store.root() == state.root() and store.meta.chain_head == state.chain_head:
                    return
        raise AuditChainError(f"the node store rebuilt from the log has root {store.root().hex()}, but the "
                              f"projection's state says {state.root().hex()}: the log changed while it was read")

    def _extend(self, store: NodeStore, loki_dir: Path, upto: int, target: str) -> None:
        audits, head, sha = self._audits, store.meta.chain_head, hashlib.sha256
        # The lines of a fold in this process, if it computed them all; else from the log.
        known = chain_after(head, target, upto)
        if known is not None:
            for seq, line, head in known:
                store.append(sha(b"\x00" + line[:-1]).digest(), seq)
        else:
            with FileEventLog(loki_dir) as log:
                for event in log.read(store.meta.seq + 1, upto, ingest=False):
                    if audits(event):
                        line, head = entry_line(event, head)
                        store.append(sha(b"\x00" + line[:-1]).digest(), event.seq)
        store.flush(seq=upto, chain_head=head)


"""The audit projection: the chain's head as a pure fold of the log, its view the chain on disk."""
from __future__ import annotations

from pathlib import Path

import msgspec

from eventlog import Event

from .entry import GENESIS, entry_line
from .settings import AuditSettings


class AuditState(msgspec.Struct):
    """The chain after the events folded so far: the last folded seq and the head entry."""

    seq: int = 0
    entries: int = 0
    head_seq: int = 0
    head: str = GENESIS


class AuditProjection:
    """Hash-chains every audited event; writes `.loki/audit/` (see docs/AUDIT.md)."""

    name = "audit"
    version = 1
    state_type = AuditState

    def __init__(self, settings: AuditSettings | None = None) -> None:
        self.settings = settings or AuditSettings.from_env()
        self._audits = self.settings.selection.audits
        self.block_memo = self.settings.fold_key()  # projections/engine/blocks.py

    def initial(self) -> AuditState:
        return AuditState()

    def apply(self, state: AuditState, event: Event) -> AuditState:
        state.seq = event.seq
        if self._audits(event):
            state.head = entry_line(event, state.head)[1]  # the Merkle fold reuses this line
            state.head_seq = event.seq
            state.entries += 1
        return state

    def write_views(self, state: AuditState, loki_dir: Path) -> None:
        """Extend the chain on disk up to the state's seq (never rewriting an entry written before)."""
        from .writer import sync_chain

        sync_chain(Path(loki_dir), self.settings, upto_seq=state.seq, head=state.head)

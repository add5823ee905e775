"""Block memos: a rebuild that skips the blocks of the log a projection has already folded.

A fold is a pure function of its events, so the state after a block of the log (about 1 MB of
whole lines) is a function of the bytes of every block up to it. A projection that opts in
(``block_memo = "<what, besides its version, its apply depends on>"``; the audit chain and its
Merkle tree, whose states are small and whose folds hash every event) keeps beside its
snapshot, in `blocks.msgpack`, one record per block a rebuild folded: where the block is, the
chained SHA-256 of the log's bytes up to its end, and the state after it. The next rebuild
hashes each block's bytes (one C call per megabyte, about 0.2 us per event) and, while the
chained digest matches the record, takes the state from it instead of decoding and folding
the block; from the first block that differs on, it folds as before and records anew.

A hit therefore yields the state a fold of the same bytes would (the digest covers every
byte from seq 1 on, and the record is only kept by the same name, version and settings), so
every invariant of a rebuild holds: views are a function of the state, and a missing, torn or
damaged memo file is only a miss. Blocks never span segments and are cut at the first newline
after 1 MB, so they do not depend on how the log was read; a block whose end may still move
(the tail of the active segment) is folded and never recorded. Records are only kept while
the fold met no poison event: dead letters are not part of the state.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Iterator

import msgspec

from eventlog.fsutil import atomic_write
from eventlog.reader import committed_end, decode_buffer
from eventlog.segments import list_segments

from .fold import Lane, fold_batches, wanted_types
from .snapshots import ProjectionFiles, decode_state, encode_state

BLOCK_BYTES = 1 << 20
MEMO_FORMAT = 1
MEMO_FILE = "blocks.msgpack"
#: Decoding in pieces of this size keeps a batch in the CPU cache while the folds touch it.
_PIECE_BYTES = 64 * 1024


class Block(msgspec.Struct, array_like=True, frozen=True):
    """One block of the log: where it is, what it holds, and the state after it."""

    segment: int   # the first seq of its segment (the same once the segment is compressed)
    start: int     # byte offsets in the segment's (uncompressed) bytes
    end: int
    last_seq: int
    last_id: str
    events: int
    chain: bytes   # SHA-256 over the previous block's chain and this block's bytes
    state: bytes   # encode_state of the state after the block


class Memo(msgspec.Struct, kw_only=True):
    format: int = MEMO_FORMAT
    name: str
    version: int
    key: str
    blocks: list[Block]
    digest: bytes = b""  # SHA-256 of the file encoded with an empty digest: damage at rest is a miss


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Memo)


def memo_key(projection: Any) -> str | None:
    """What a projection's block records depend on besides the log, or None when it keeps none."""
    key = getattr(projection, "block_memo", None)
    return None if key is None else f"{projection.version}:{key}"


def read_memo(loki_dir: Path, projection: Any) -> list[Block]:
    """The projection's recorded blocks, or none when the file is missing, damaged or not its own."""
    key = memo_key(projection)
    try:
        memo = _decoder.decode((ProjectionFiles(loki_dir, projection.name).directory / MEMO_FILE).read_bytes())
    except (OSError, msgspec.DecodeError, msgspec.ValidationError):
        return []
    if (memo.format, memo.name, memo.key) != (MEMO_FORMAT, projection.name, key) or memo.digest != _digest(memo):
        return []
    return memo.blocks


def write_memo(loki_dir: Path, projection: Any, blocks: list[Block]) -> None:
    """Replace the projection's memo (not fsynced: a memo lost to a crash only costs speed)."""
    memo = Memo(name=projection.name, version=projection.version, key=memo_key(projection), blocks=blocks)
    memo.digest = _digest(memo)
    directory = ProjectionFiles(loki_dir, projection.name).directory
    directory.mkdir(parents=True, exist_ok=True)
    atomic_write(directory / MEMO_FILE, _encoder.encode(memo), durable=False)


def _digest(memo: Memo) -> bytes:
    return hashlib.sha256(_encoder.encode(msgspec.structs.replace(memo, digest=b""))).digest()


def log_blocks(log_dir: Path) -> Iterator[tuple[Any, int, memoryview, bool]]:
    """Yield ``(segment, start offset, view of whole lines, final)`` over the whole log.

    ``final``: the block ends where it always will (it reached 1 MB, or its segment is sealed).
    Each view is into one buffer the reads reuse (no copy of the log's bytes is made): it holds
    its block only until the next one is asked for, and starts at the beginning of that buffer.
    """
    segments = list_segments(log_dir)
    buffer = bytearray(BLOCK_BYTES + _PIECE_BYTES)
    for number, segment in enumerate(segments):
        last = number == len(segments) - 1
        try:
            handle = segment.open()
        except FileNotFoundError:
            continue
        with handle:
            limit = committed_end(log_dir, segment, handle.fileno()) if last and not segment.compressed else None
            position, kept = 0, 0  # kept: bytes after the last block, at the start of the buffer
            while True:
                want = BLOCK_BYTES if limit is None else min(BLOCK_BYTES, limit - position - kept)
                if kept + want > len(buffer):  # a line longer than the room left
                    bigger = bytearray(kept + want)
                    bigger[:kept] = memoryview(buffer)[:kept]
                    buffer = bigger
                got = handle.readinto(memoryview(buffer)[kept:kept + want]) if want > 0 else 0
                filled = kept + got
                cut = buffer.rfind(b"\n", 0, filled) + 1
                full = got == BLOCK_BYTES
                if cut and (full or not got):
                    yield segment, position, memoryview(buffer)[:cut], full or not last
                    position, kept = position + cut, filled - cut
                    buffer[:kept] = buffer[cut:filled]
                else:
                    kept = filled  # no newline yet (a line longer than a block), or read on
                if not got:
                    break


def fold_blocks(loki_dir: Path, log_dir: Path, lanes: list[Lane], tick=None) -> dict[int, list[Block]]:
    """Fold the whole log into ``lanes`` (all at seq 0), taking memoized blocks where they match.

    Returns, by ``id(lane)``, the blocks to record for each lane that keeps a memo.
    """
    keeps = {id(lane): read_memo(loki_dir, lane.projection) for lane in lanes
             if memo_key(lane.projection) is not None}
    recorded: dict[int, list[Block]] = {key: [] for key in keeps}
    chain = b""
    for number, (segment, start, data, final) in enumerate(log_blocks(log_dir)):
        digest = hashlib.sha256(chain)
        digest.update(data)
        chain = digest.digest()
        hits: list[tuple[Lane, Block]] = []
        folding: list[Lane] = []
        for lane in lanes:
            if lane.halted:
                continue
            memo = keeps.get(id(lane))
            block = memo[number] if memo is not None and number < len(memo) else None
            if final and block is not None and (block.segment, block.start, block.chain) == (segment.first_seq, start, chain):
                hits.append((lane, block))
            else:
                if memo:
                    keeps[id(lane)] = []  # the log differs from here on: fold the rest
                folding.append(lane)
        letters = {id(lane): (lane.outcome.dead_letter_count, lane.outcome.stopped) for lane in folding}
        last = None
        if folding:
            last = _fold_block(folding, segment, start, data)
        for lane, block in hits:
            _adopt(lane, block)
        if last is None:
            last = (hits[0][1].last_seq, hits[0][1].last_id, hits[0][1].events) if hits else None
        if last is None:
            continue
        for lane in lanes:
            done = recorded.get(id(lane))
            if done is None or len(done) != number or not final or lane.halted:
                continue  # not a memo lane, or its record stopped earlier
            if letters.get(id(lane), (lane.outcome.dead_letter_count, lane.outcome.stopped)) != (
                    lane.outcome.dead_letter_count, lane.outcome.stopped):
                continue  # a poison event in this block: dead letters are not in the state
            state = next((b.state for l, b in hits if l is lane), None) or encode_state(lane.state)
            done.append(Block(segment.first_seq, start, start + len(data), last[0], last[1], last[2], chain, state))
        if tick is not None:
            tick(lanes)
    return recorded


def _fold_block(lanes: list[Lane], segment: Any, start: int, data: memoryview) -> tuple[int, str, int] | None:
    types = wanted_types(lanes)
    seen: list = [None, 0]  # the last event and how many
    raw, end = data.obj, len(data)  # log_blocks' buffer, which the view starts at: searched in place

    def pieces() -> Iterator[list]:
        piece = 0
        while piece < end:
            cut = raw.rfind(b"\n", piece, piece + _PIECE_BYTES) + 1 if piece + _PIECE_BYTES < end else end
            if cut <= piece:  # one line longer than a piece
                cut = raw.find(b"\n", piece, end) + 1
            events = decode_buffer(bytes(data[piece:cut]), start + piece, segment, types=types)
            if events:
                seen[0], seen[1] = events[-1], seen[1] + len(events)
                yield events
            piece = cut

    fold_batches(lanes, pieces())
    last, count = seen
    return None if last is None else (last.seq, last.id, count)


def _adopt(lane: Lane, block: Block) -> None:
    lane.state = decode_state(block.state, lane.projection.state_type)
    outcome = lane.outcome
    outcome.state = lane.state
    outcome.seq, outcome.head_id = block.last_seq, block.last_id
    outcome.events += block.events
    lane.applied += block.events

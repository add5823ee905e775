"""The chain on disk: `.loki/lokilog/audit/audit.jsonl`, its sealed rotations and `head.json`.

lokilog's chain lives under `.loki/lokilog/`, a path no Loki Mode writer uses: Loki Mode's own
JavaScript audit log writes `.loki/audit/audit.jsonl`, which lokilog only reads (see
projections/audit/migrate.py for moving a chain an older lokilog kept there, and
projections/audit/loki_chain.py for verifying Loki Mode's).

Layout: the active file `audit.jsonl`; sealed files `audit-<seq of first entry, 20 digits>.jsonl`
(renamed from the active file when it would pass the size bound); `head.json`, the last head
the writer recorded and the pruned prefix when old files were removed by the count bound.
Reading is lock-free (only whole lines count); writing happens under `audit.lock`.
"""
from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import msgspec

from eventlog.errors import UnsafeFileError
from eventlog.fsutil import atomic_write
from eventlog.safeio import read_small

from .entry import split_line
from .errors import AuditChainError
from .verify import ChainPoint

ACTIVE = "audit.jsonl"
HEAD = "head.json"
LOCK = "audit.lock"
_SEALED = re.compile(r"audit-(\d{20})\.jsonl")
_CHUNK = 1024 * 1024


def audit_dir(loki_dir: Path) -> Path:
    """Where lokilog's chain lives: `.loki/lokilog/audit/`."""
    return Path(loki_dir) / "lokilog" / "audit"


def loki_mode_audit_dir(loki_dir: Path) -> Path:
    """Loki Mode's audit directory, `.loki/audit/` (its `audit.jsonl` and `witness.jsonl`)."""
    return Path(loki_dir) / "audit"


def sealed_name(first_seq: int) -> str:
    return f"audit-{first_seq:020d}.jsonl"


def chain_files(directory: Path) -> list[Path]:
    """Return the chain's files in order: sealed ones by first seq, then the active one."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    sealed = sorted(n for n in names if _SEALED.fullmatch(n))
    files = [directory / n for n in sealed]
    if ACTIVE in names:
        files.append(directory / ACTIVE)
    return files


def sealed_first_seq(path: Path) -> int | None:
    match = _SEALED.fullmatch(path.name)
    return int(match.group(1)) if match else None


def iter_lines(files: list[Path]) -> Iterator[bytes]:
    """Yield every complete line (without ``\\n``) of the files, in order; a torn tail is skipped."""
    for path in files:
        try:
            handle = open(path, "rb")
        except FileNotFoundError:
            continue
        with handle:
            leftover = b""
            while chunk := handle.read(_CHUNK):
                buffer = leftover + chunk
                cut = buffer.rfind(b"\n") + 1
                leftover = buffer[cut:]
                if cut:
                    yield from buffer[: cut - 1].split(b"\n")


def last_line(path: Path) -> bytes | None:
    """Return the last complete line of a file (without ``\\n``), reading backwards."""
    try:
        handle = open(path, "rb")
    except FileNotFoundError:
        return None
    with handle:
        end = handle.seek(0, os.SEEK_END)
        tail = b""
        position = end
        while position > 0:
            step = min(64 * 1024, position)
            position -= step
            handle.seek(position)
            tail = handle.read(step) + tail
            last_nl = tail.rfind(b"\n")
            if last_nl < 0:
                continue
            start = tail.rfind(b"\n", 0, last_nl) + 1
            if start > 0 or position == 0:
                return tail[start:last_nl]
        return None


def first_line(path: Path) -> bytes | None:
    try:
        with open(path, "rb") as handle:
            line = handle.readline()
    except FileNotFoundError:
        return None
    return line[:-1] if line.endswith(b"\n") else None


class ChainPointRecord(msgspec.Struct, kw_only=True):
    seq: int
    hash: str
    entries: int


class HeadRecord(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """`head.json`: the head after the last write, and the prefix pruned by the count bound."""

    seq: int = 0
    hash: str = "GENESIS"
    entries: int = 0
    pruned: ChainPointRecord | None = None


def read_head_record(directory: Path) -> HeadRecord | None:
    """Return `head.json`, or None when it is missing or unreadable."""
    try:
        return msgspec.json.decode(read_small(directory / HEAD, json_depth_limit=None), type=HeadRecord)
    except (FileNotFoundError, UnsafeFileError, msgspec.DecodeError, UnicodeDecodeError):
        return None


def head_record_damage(directory: Path) -> str | None:
    """Say what is wrong with a `head.json` that exists but cannot be read, else None."""
    try:
        msgspec.json.decode(read_small(directory / HEAD, json_depth_limit=None), type=HeadRecord)
    except FileNotFoundError:
        return None
    except (UnsafeFileError, msgspec.DecodeError, UnicodeDecodeError) as exc:
        return f"{HEAD} is damaged ({exc}): the chain's recorded head cannot be checked"
    return None


def write_head_record(directory: Path, record: HeadRecord) -> None:
    atomic_write(directory / HEAD, msgspec.json.encode(record) + b"\n")


def as_point(record: ChainPointRecord | None) -> ChainPoint | None:
    return None if record is None else ChainPoint(record.seq, record.hash, record.entries)


def file_head(files: list[Path]) -> tuple[int, str] | None:
    """Return (seq, hash) of the chain's last entry on disk, or None for an empty chain."""
    for path in reversed(files):
        line = last_line(path)
        if line:
            parts = split_line(line)
            if parts is None:
                raise AuditChainError(f"{path}: the last entry is malformed; run `lokilog audit verify`")
            return entry_seq(line, path), parts[1]
    return None


def entry_seq(line: bytes, path: Path) -> int:
    """Return the seq of a stored entry line (lines start with {"seq":N, by construction)."""
    end = line.find(b",", 7)
    digits = line[7:end] if line.startswith(b'{"seq":') and end > 0 else b""
    if not digits.isdigit():
        raise AuditChainError(f"{path}: the last entry has no seq; run `lokilog audit verify`")
    return int(digits)


def count_lines(files: list[Path]) -> int:
    total = 0
    for path in files:
        with open(path, "rb") as handle:
            while chunk := handle.read(_CHUNK):
                total += chunk.count(b"\n")
    return total

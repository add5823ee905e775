"""Checkpoint ids: minting ids that never collide, and refusing ids that could escape `.loki/`."""
from __future__ import annotations

import os
import re
import time
from pathlib import Path

from eventlog import InvalidEventError

MAX_ID_LENGTH = 128

#: Loki Mode's three writers (`cp-<iter>-<epoch>`, `cp-<ts>`, `chk-<ts>`), the dashboard's
#: `rb-pre-<ts>` and lokilog's own ids all fit this: no separators, no leading dot.
_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:+-]*")


class CheckpointIdError(InvalidEventError):
    """A checkpoint id is malformed or would reach outside the checkpoint store."""


def mint_id(prefix: str = "cp") -> str:
    """Return a fresh id: UTC time to the millisecond plus 48 random bits.

    The reference system's second-resolution ids overwrote each other when two checkpoints were
    taken in the same second; the random suffix makes concurrent mints distinct, and the time
    prefix keeps ids sortable by creation for people reading `ls`.
    """
    ns = time.time_ns()
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(ns // 1_000_000_000))
    return f"{prefix}-{stamp}{(ns // 1_000_000) % 1000:03d}Z-{os.urandom(6).hex()}"


def check_id(value: object) -> str:
    """Return ``value`` if it is a safe checkpoint id, else raise CheckpointIdError naming why."""
    if not isinstance(value, str) or not value:
        raise CheckpointIdError("checkpoint id must be a non-empty string")
    if "\x00" in value:
        raise CheckpointIdError("checkpoint id contains a NUL byte")
    if len(value) > MAX_ID_LENGTH:
        raise CheckpointIdError(f"checkpoint id is longer than {MAX_ID_LENGTH} characters")
    if "/" in value or "\\" in value or os.sep in value:
        raise CheckpointIdError(f"checkpoint id {value!r} contains a path separator")
    if ".." in value:
        raise CheckpointIdError(f"checkpoint id {value!r} contains '..'")
    if not _ID_PATTERN.fullmatch(value):
        raise CheckpointIdError(
            f"checkpoint id {value!r} must start with a letter or digit and hold only "
            "letters, digits and . _ : + -"
        )
    return value


def checkpoint_dir(store: Path, loki_root: Path, checkpoint_id: str) -> Path:
    """Return the directory of a checkpoint, refusing symlinks that lead outside `.loki/`."""
    path = store / check_id(checkpoint_id)
    if path.is_symlink():
        target = path.resolve()
        if not is_within(target, loki_root.resolve()):
            raise CheckpointIdError(f"checkpoint {checkpoint_id!r} is a symlink leading outside .loki/")
    return path


def is_within(path: Path, root: Path) -> bool:
    """True if resolved ``path`` is ``root`` or below it."""
    try:
        path.relative_to(root)
    except ValueError:
        return False
    return True

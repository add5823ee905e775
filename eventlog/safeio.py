"""Opening files that someone else may have planted: no links followed, no blocking, bounded.

A `.loki/` often arrives with a repository someone else wrote, and lokilog runs inside hooks
that must never stall. So a file read from the drop box or from Loki Mode's directories is
opened with ``O_NOFOLLOW | O_NONBLOCK`` (a FIFO cannot block the open, a link to ``/dev/zero``
is not followed), checked with ``fstat`` to be a regular file, read up to a size bound, and its
JSON nesting is measured before any decoder recurses into it. A directory lokilog writes into
is checked not to lead outside `.loki/` (a symlinked ``state/`` must not receive our views).
"""
from __future__ import annotations

import errno
import os
import re
import stat
from itertools import accumulate
from pathlib import Path

import msgspec

from .errors import UnsafeFileError, UnsafePathError

#: The most bytes read from one planted file (an event is at most 1 MiB once encoded).
MAX_FILE_BYTES = 4 * 1024 * 1024
#: The deepest JSON nesting accepted: far beyond any real event, far below any recursion limit.
MAX_JSON_DEPTH = 64

_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | getattr(os, "O_NOCTTY", 0)
# A JSON string with its escapes (unrolled, so it cannot backtrack): brackets inside it do not nest.
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}

#: The top-level directories of `.loki/` that lokilog itself writes into. Loki Mode's own
#: (``queue/``, ``memory/``, ...) are written only by checkpoint restore, which walks with
#: directory descriptors and replaces a planted link instead of writing through it.
OWNED_TOP = frozenset({"events", "state", "audit", "lokilog", "metrics", "projections", "cost", "trackers", "crash", "prd"})
# Directories whose entries are not walked by :func:`escapes`: they hold many files (each
# opened without following links anyway), and a walk must stay a few system calls.
_NOT_WALKED = frozenset({"pending", "archive", "log", "checkpoints"})


class Identity(msgspec.Struct, frozen=True):
    """What names a file across renames: device, inode, size, mtime and its kind."""

    dev: int
    ino: int
    size: int
    mtime_ns: int
    kind: str

    def to_dict(self) -> dict:
        return {"dev": self.dev, "ino": self.ino, "size": self.size, "mtime_ns": self.mtime_ns, "kind": self.kind}


def identity(st: os.stat_result) -> Identity:
    """The identity of a stat result."""
    return Identity(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, kind_of(st.st_mode))


def kind_of(mode: int) -> str:
    """Name a file type the way an error message should: "a FIFO", "a directory", ..."""
    for test, name in ((stat.S_ISREG, "regular file"), (stat.S_ISDIR, "directory"), (stat.S_ISLNK, "symbolic link"),
                       (stat.S_ISFIFO, "FIFO"), (stat.S_ISSOCK, "socket"), (stat.S_ISCHR, "character device"),
                       (stat.S_ISBLK, "block device")):
        if test(mode):
            return name
    return "special file"


def read_small(path: str | os.PathLike[str], max_bytes: int = MAX_FILE_BYTES, *, follow_links: bool = False,
               json_depth_limit: int | None = MAX_JSON_DEPTH) -> bytes:
    """Read one of the small files of `.loki/` (a cursor, a snapshot, a config) safely.

    Like :func:`read_regular`; ``follow_links`` allows a link the user made (a shared config
    file) as long as it ends at a regular file. JSON nested deeper than ``json_depth_limit``
    is refused before anyone decodes it.
    """
    target = os.path.realpath(path) if follow_links else path
    data, _ = read_regular(target, max_bytes)
    if json_depth_limit is not None:
        check_json_depth(data, json_depth_limit, os.path.basename(os.fspath(path)))
    return data


def read_regular(path: str | os.PathLike[str], max_bytes: int = MAX_FILE_BYTES, *,
                 dir_fd: int | None = None) -> tuple[bytes, os.stat_result]:
    """Read a whole regular file without following a link or blocking; return its bytes and stat.

    Raises FileNotFoundError when it is gone, UnsafeFileError (one line, naming the file) when
    it is a link, not a regular file, or larger than ``max_bytes``.
    """
    name = os.path.basename(os.fspath(path))  # messages name the file; callers say where
    try:
        fd = os.open(os.fspath(path), _READ_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafeFileError(f"{name}: is a symbolic link; links in .loki/ are not followed") from None
        if exc.errno == errno.ENOENT:
            raise
        raise UnsafeFileError(f"{name}: cannot be opened: {exc.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UnsafeFileError(f"{name}: is a {kind_of(st.st_mode)}, not a regular file")
        if st.st_size > max_bytes:
            raise UnsafeFileError(f"{name}: {st.st_size} bytes, more than the {max_bytes} read from one file")
        data = _read_bounded(fd, max_bytes + 1)
        if len(data) > max_bytes:
            raise UnsafeFileError(f"{name}: grew past the {max_bytes} bytes read from one file")
        return data, st
    finally:
        os.close(fd)


def _read_bounded(fd: int, limit: int) -> bytes:
    chunks, size = [], 0
    while size < limit:
        try:
            chunk = os.read(fd, min(1 << 20, limit - size))
        except BlockingIOError:  # pragma: no cover - regular files do not block
            break
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def json_depth(data: bytes) -> int:
    """How deeply the arrays and objects of a JSON text nest (brackets inside strings ignored)."""
    if data.count(b"[") + data.count(b"{") <= 1:
        return int(b"[" in data or b"{" in data)
    brackets = _JSON_STRING.sub(b"", data).translate(None, _NOT_BRACKETS)
    return max(accumulate(_STEP[b] for b in brackets), default=0)


def check_json_depth(data: bytes, limit: int = MAX_JSON_DEPTH, what: str = "the JSON") -> None:
    """Raise UnsafeFileError if ``data`` nests deeper than ``limit`` (checked before decoding)."""
    if data.count(b"[") + data.count(b"{") <= limit:
        return  # cannot nest deeper than it has brackets: the common case costs two counts
    depth = json_depth(data)
    if depth > limit:
        raise UnsafeFileError(f"{what} nests {depth} levels deep; at most {limit} are accepted")


def check_contained(loki_root: str | os.PathLike[str], subdirs: tuple[str, ...] | None = None) -> None:
    """Raise UnsafePathError if a directory lokilog writes into resolves outside `.loki/`."""
    problem = first_escape(loki_root, subdirs)
    if problem is not None:
        raise UnsafePathError(problem)


def first_escape(loki_root: str | os.PathLike[str], subdirs: tuple[str, ...] | None = None) -> str | None:
    """Describe the first directory that leads outside `.loki/`, or None."""
    found = escapes(loki_root, subdirs)
    return found[0] if found else None


def escapes(loki_root: str | os.PathLike[str], subdirs: tuple[str, ...] | None = None) -> list[str]:
    """Every link to a directory outside `.loki/`, each described in one line.

    Looks at ``subdirs`` (relative paths) when given, else at the directories lokilog writes
    into (:data:`OWNED_TOP`) and their entries (``state/``, ``events/cursors``, ``projections/audit``, ...).
    """
    root = Path(loki_root)
    try:
        real_root = root.resolve(strict=True)
    except (FileNotFoundError, NotADirectoryError, RuntimeError):
        return []
    if subdirs is not None:
        candidates = [root / sub for sub in subdirs if os.path.lexists(root / sub)]
    else:
        candidates = _two_levels(root)
    out = []
    for path in candidates:
        real = Path(os.path.realpath(path))
        if real != real_root and real_root not in real.parents and (subdirs is not None or real.is_dir()):
            out.append(f"{path} leads outside {root} (to {real}); lokilog does not write through it: "
                       "remove the link or make it a directory inside .loki/")
    return out


def _two_levels(root: Path) -> list[Path]:
    found: list[Path] = []
    for entry in _entries(root):
        if entry.name not in OWNED_TOP:
            continue
        if entry.is_symlink():
            found.append(Path(entry.path))
        elif entry.is_dir(follow_symlinks=False) and entry.name not in _NOT_WALKED:
            found.extend(Path(e.path) for e in _entries(Path(entry.path)) if e.is_symlink())
    return found


def _entries(directory: Path) -> list[os.DirEntry]:
    try:
        with os.scandir(directory) as it:
            return list(it)
    except OSError:
        return []


def open_dir(name: str, dir_fd: int | None = None, create: bool = False, mode: int = 0o755) -> int:
    """Open one directory component below ``dir_fd`` without following a link (optionally creating it)."""
    if create:
        try:
            os.mkdir(name, mode, dir_fd=dir_fd)
        except FileExistsError:
            pass
    try:
        return os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise UnsafePathError(f"refusing to go through {name!r}: it is not a directory (a symbolic link?)") from None
        raise


__all__ = [
    "Identity", "MAX_FILE_BYTES", "MAX_JSON_DEPTH", "OWNED_TOP", "check_contained", "check_json_depth",
    "escapes", "first_escape", "identity", "json_depth", "kind_of", "open_dir", "read_regular", "read_small",
]

"""Small durable file-system primitives shared by the log, the drop box, snapshots and cursors."""
from __future__ import annotations

import os
import sys
from functools import lru_cache
from pathlib import Path


def fsync_dir(path: Path) -> None:
    """fsync a directory so that entries created or renamed in it survive power loss."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_dirs(path: Path, durable: bool = True) -> None:
    """Create ``path`` and any missing parents, each entry fsynced in its parent (unless
    ``durable`` is off), so a power cut cannot take a directory away after a file in it was
    acknowledged. Costs nothing when ``path`` exists."""
    if path.is_dir():
        return
    for parent in created_dirs_parents(path):
        if durable:
            fsync_dir(parent)


def created_dirs_parents(path: Path) -> list[Path]:
    """Create ``path`` and missing parents; return the directories whose entries changed
    (the parent of each directory created), for the caller to fsync."""
    missing = []
    probe = path
    while not probe.exists():
        missing.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    for directory in reversed(missing):
        try:
            directory.mkdir()
        except FileExistsError:
            pass  # made by someone else meanwhile: its entry is theirs to sync, but sync anyway
    return [d.parent for d in reversed(missing)]


def write_all(fd: int, data: bytes) -> None:
    """Write every byte of ``data``; os.write may write less than asked (a full disk, a signal)."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def write_chunks(fd: int, chunks: list[bytes]) -> None:
    """Write the chunks one after the other, as ``write_all(fd, b"".join(chunks))`` would, without
    copying them into one buffer first (os.writev, at most 1024 at a time)."""
    for start in range(0, len(chunks), _IOV_MAX):
        group = chunks[start:start + _IOV_MAX]
        written = os.writev(fd, group)
        if written < sum(map(len, group)):  # a short write: finish the rest the plain way
            write_all(fd, b"".join(group)[written:])


_IOV_MAX = 1024  # the POSIX minimum of IOV_MAX on the systems we run on (Linux, macOS)


def write_new_file(path: Path, data: bytes, durable: bool = True, mode: int = 0o644) -> None:
    """Create ``path`` (it must not exist) holding ``data``, fsynced unless ``durable`` is off.

    The directory entry is not fsynced here: callers that need the name to survive power loss
    fsync the directory (once per batch of files, where they can).
    """
    _write(path, data, os.O_EXCL, durable, mode)


def _write(path: Path, data: bytes | list[bytes], flags: int, durable: bool, mode: int = 0o644) -> None:
    # O_NOFOLLOW: a link planted at one of our names must not carry our bytes out of `.loki/`.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW | flags, mode)
    try:
        if isinstance(data, bytes):
            write_all(fd, data)
        else:
            write_chunks(fd, data)
        if durable:
            os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes | list[bytes], durable: bool = True) -> None:
    """Replace ``path`` with ``data`` (bytes, or chunks written one after the other) so a reader
    sees the old or the new file, never a mix.

    Writes ``<name>.tmp`` in the same directory, fsyncs it, renames it over ``path`` and fsyncs
    the directory: a crash at any point leaves the old file or the new one, plus at most a
    stray ``.tmp`` that the next write replaces.

    Not ``durable`` (views rebuilt from the log), the new file is swapped in on Linux
    (``renameat2`` with ``RENAME_EXCHANGE``) and the old one unlinked: renamed over the old
    one, ext4 (``auto_da_alloc``) would start writing the new file out and free the old one's
    blocks at once, about 1 ms per MB on every rewrite, while a file replaced again within
    seconds need never reach the disk.
    """
    tmp = path.with_name(path.name + ".tmp")
    try:
        os.unlink(tmp)  # a stray temp file of a crashed write, or a link someone planted there
    except FileNotFoundError:
        pass
    _write(tmp, data, os.O_EXCL, durable)
    if durable:
        os.replace(tmp, path)
        fsync_dir(path.parent)
    elif not _exchanged(tmp, path):
        os.replace(tmp, path)


def _exchanged(tmp: Path, path: Path) -> bool:
    """Swap ``tmp`` in at ``path`` and remove the old file; False where there is no file at
    ``path`` yet or no exchange on this system (the caller renames then)."""
    exchange = _renameat2()
    if exchange is None or exchange(_AT_FDCWD, os.fsencode(tmp), _AT_FDCWD, os.fsencode(path), _RENAME_EXCHANGE):
        return False
    os.unlink(tmp)  # the old file, now under the temp name
    return True


_RENAME_EXCHANGE = 2  # linux/fs.h
_AT_FDCWD = -100


@lru_cache(maxsize=1)
def _renameat2():
    if not sys.platform.startswith("linux"):
        return None
    import ctypes  # only here: most commands never replace a view

    try:
        function = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):  # a C library older than glibc 2.28
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


def create_exclusive(path: Path, data: bytes, durable: bool = True, mode: int = 0o644, sync_dir: bool = True) -> None:
    """Create a new file holding ``data`` via a temp file and a link; FileExistsError if it exists.

    Readers never see a partial file: the name appears only once every byte is written.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    write_new_file(tmp, data, durable, mode)
    try:
        os.link(tmp, path)  # link, unlike rename, refuses to replace an existing file
    finally:
        os.unlink(tmp)
    if durable and sync_dir:
        fsync_dir(path.parent)


def is_tmpfs(path: Path) -> bool:
    """True if ``path`` is on a memory file system, where fsync promises nothing (Linux only)."""
    try:
        with open("/proc/mounts") as mounts:
            kind = mount_type(Path(os.path.realpath(path)), mounts.read())
    except OSError:
        return False
    return kind in ("tmpfs", "ramfs")


def mount_type(target: Path, mounts: str) -> str:
    """The file-system type of the deepest mount holding ``target``, from /proc/mounts text."""
    best, kind = -1, ""
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        mount = Path(fields[1].replace("\\040", " "))
        # Whole components only: /mnt/tmpfs2 is not below a mount at /mnt/tmp.
        if (mount == target or mount in target.parents) and len(mount.parts) > best:
            best, kind = len(mount.parts), fields[2]
    return kind

"""Working-tree snapshots in git: `git stash create` anchored by `git update-ref refs/loki/cp/<id>`.

`git stash create` records tracked changes as a commit without touching the tree or the stash
list; the ref keeps gc from pruning it. Untracked and ignored files are not captured (a git
limit, documented). Every git call has a timeout: a hung git never hangs lokilog.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

from eventlog import EventLogError

from .store import GitSnapshot

GIT_TIMEOUT = 30.0
REF_PREFIX = "refs/loki/cp/"
# Used only when the repository has no identity configured: stash commits need a committer.
_FALLBACK_IDENTITY = ("-c", "user.name=lokilog", "-c", "user.email=lokilog@localhost")


class GitError(EventLogError):
    """A git command failed or timed out."""


def _git(top: Path, *args: str, check: bool = True, timeout: float = GIT_TIMEOUT) -> str:
    env = dict(os.environ, GIT_TERMINAL_PROMPT="0", GIT_OPTIONAL_LOCKS="0")
    try:
        done = subprocess.run(["git", "-C", str(top), *args], capture_output=True, text=True,
                              timeout=timeout, env=env, stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise GitError("git is not installed") from None
    except subprocess.TimeoutExpired:
        raise GitError(f"git {args[0]} did not finish within {timeout:.0f}s") from None
    if check and done.returncode != 0:
        raise GitError(f"git {' '.join(args)} failed: {done.stderr.strip() or done.returncode}")
    return done.stdout.strip()


def work_tree(loki_root: Path) -> Path | None:
    """Return the top of the git work tree holding ``loki_root``'s project, or None."""
    project = Path(loki_root).resolve().parent
    try:
        top = _git(project, "rev-parse", "--show-toplevel", check=False)
    except GitError:
        return None
    return Path(top) if top else None


def snapshot(top: Path, checkpoint_id: str) -> GitSnapshot | None:
    """Snapshot the tracked working tree and anchor it; None if the repository has no commit."""
    head = _git(top, "rev-parse", "--verify", "-q", "HEAD", check=False) or None
    if head is None:
        return None
    identity = () if _git(top, "var", "GIT_COMMITTER_IDENT", check=False) else _FALLBACK_IDENTITY
    sha = _git(top, *identity, "stash", "create", f"lokilog checkpoint {checkpoint_id}")
    kind = "stash" if sha else "head"  # a clean tree: HEAD itself is the snapshot
    sha = sha or head
    ref = REF_PREFIX + checkpoint_id
    _git(top, "update-ref", ref, sha)
    return GitSnapshot(ref=ref, sha=sha, kind=kind, head=head)


def restore(top: Path, snap: GitSnapshot, loki_root: Path) -> None:
    """Make tracked files match the snapshot (outside `.loki/`); untracked files are left alone."""
    source = snap.ref if _git(top, "rev-parse", "--verify", "-q", snap.ref, check=False) else snap.sha
    args = ["restore", f"--source={source}", "--worktree", "--", "."]
    loki_rel = _relative(Path(loki_root).resolve(), top)
    if loki_rel is not None:
        args.append(f":(exclude){loki_rel}")
    _git(top, *args)


def delete_ref(top: Path, checkpoint_id: str) -> None:
    """Drop a checkpoint's anchor ref (its snapshot becomes prunable by git gc)."""
    _git(top, "update-ref", "-d", REF_PREFIX + checkpoint_id, check=False)


def apply_command(snap: GitSnapshot) -> str:
    """The git command a person can run to restore the snapshot by hand."""
    return f"git restore --source={snap.ref} --worktree -- ."


def _relative(path: Path, top: Path) -> str | None:
    try:
        return path.relative_to(top.resolve()).as_posix()
    except ValueError:
        return None

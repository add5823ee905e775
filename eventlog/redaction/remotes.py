"""A project's identity from its git remote, without the remote: normalized, hashed, owner/repo.

Pure. Crash reports carry :func:`project_id_hash` (equal for everyone who cloned the same
project, revealing nothing of the URL); crash capture adds :func:`repository_of` to what it scrubs.
"""
from __future__ import annotations

import hashlib
import re


def normalize_remote(url: str) -> str:
    """Normalize a git remote: no scheme, credentials, port, ``.git`` or trailing slash; host in lower case."""
    url = url.strip()
    rest = re.sub(r"^[A-Za-z][A-Za-z0-9+.-]{0,20}://", "", url)
    if rest == url and re.match(r"^[^/]{1,300}:", url):  # scp-like user@host:owner/repo
        rest = url.replace(":", "/", 1)
    rest = rest.split("@", 1)[-1] if "@" in rest.split("/", 1)[0] else rest
    host, _, path = rest.partition("/")
    host = host.split(":", 1)[0].lower()
    path = path.strip("/")
    if path.endswith(".git"):
        path = path[:-4]
    return f"{host}/{path}".rstrip("/")


def project_id_hash(remote_url: str) -> str:
    """Unsalted sha256 of the normalized remote: equal for everyone who cloned the same project."""
    return hashlib.sha256(normalize_remote(remote_url).encode()).hexdigest()


def repository_of(remote_url: str) -> str | None:
    """The ``owner/repo`` part of a git remote, if it has one."""
    parts = normalize_remote(remote_url).split("/")
    return "/".join(parts[-2:]) if len(parts) >= 3 and all(parts[-2:]) else None

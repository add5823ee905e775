"""External witnesses for the audit chain's head: a file outside the project, an HTTP endpoint, a git ref.

A witness keeps anchors, ``{format, project, seq, hash, entries, anchored_at}``, where whoever
can rewrite `.loki/` cannot: its worth is exactly that distance. Each kind can publish an
anchor (returning a receipt) and read back the anchors it holds for a project.

- ``file:/abs/path.jsonl`` (or a bare absolute path): one JSON line per anchor, appended and
  fsynced; refused inside the project, where it would prove nothing.
- ``http://host:port/path`` or ``https://...``: the anchor is POSTed as JSON (2xx expected; a
  JSON body's ``id`` is kept in the receipt); ``GET path?project=ID`` returning a JSON list of
  anchors lets `verify --witness` read them back (a witness that does not serve them is only
  checked through its receipts). The core's HTTP client (`commands/http_client.py`, standard
  library), as the approval webhook and crash submission use: no extra needed. ``$LOKI_AUDIT_WITNESS_TOKEN`` is sent as a bearer token when set.
- ``git:/path/to/repo`` with an optional ``#refs/...`` (default ``refs/lokilog/audit-anchors``):
  each anchor is a commit with the anchor as its message on that ref, moved with a
  compare-and-swap ``update-ref``; push the ref anywhere to take it off the machine.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eventlog.fsutil import fsync_dir
from projections.audit.errors import AuditError

from .. import http_client

FORMAT = "lokilog-audit-anchor/1"
TIMEOUT = 10.0
DEFAULT_REF = "refs/lokilog/audit-anchors"
TOKEN_ENV = "LOKI_AUDIT_WITNESS_TOKEN"
_GIT_ENV = {"GIT_AUTHOR_NAME": "lokilog", "GIT_AUTHOR_EMAIL": "lokilog@localhost",
            "GIT_COMMITTER_NAME": "lokilog", "GIT_COMMITTER_EMAIL": "lokilog@localhost"}


class WitnessError(AuditError):
    """A witness could not be reached, written or read."""


@dataclass(frozen=True)
class Witness:
    kind: str       # file | http | git
    target: str     # the path, URL or repository
    ref: str | None = None

    @property
    def name(self) -> str:
        """How the witness is recorded in receipts (an URL's credentials left out)."""
        if self.kind == "http":
            parts = urllib.parse.urlsplit(self.target)
            return urllib.parse.urlunsplit(parts._replace(netloc=parts.hostname + (f":{parts.port}" if parts.port else "")))
        return f"git:{self.target}#{self.ref}" if self.kind == "git" else f"file:{self.target}"


def parse_witness(text: str, loki_dir: Path) -> Witness:
    """Read a witness address (see the module docstring); raise WitnessError naming what is wrong."""
    text = text.strip()
    if text.startswith(("http://", "https://")):
        if not urllib.parse.urlsplit(text).hostname:
            raise WitnessError(f"witness {text!r}: the URL names no host")
        return Witness("http", text)
    if text.startswith("git:"):
        repo, _, ref = text[4:].partition("#")
        ref = ref or DEFAULT_REF
        if not ref.startswith("refs/"):
            raise WitnessError(f"witness {text!r}: the git ref must start with refs/")
        return Witness("git", str(Path(repo).expanduser().resolve()), ref)
    path = Path(text[5:] if text.startswith("file:") else text).expanduser()
    if not path.is_absolute():
        raise WitnessError(f"witness {text!r}: a file witness needs an absolute path (or file:/path, http://..., git:/repo)")
    path = path.resolve()
    project = Path(loki_dir).resolve().parent
    if path == project or project in path.parents:
        raise WitnessError(f"witness {path}: it is inside the project ({project}); whoever rewrites the project "
                           "could rewrite it too: put it elsewhere")
    return Witness("file", str(path))


def project_id(loki_dir: Path) -> str:
    """Names the project in a witness shared by several (a digest of its path, not the path)."""
    return hashlib.sha256(str(Path(loki_dir).resolve()).encode()).hexdigest()[:16]


def publish(witness: Witness, anchor: dict[str, Any]) -> dict[str, Any]:
    """Give ``anchor`` to the witness; return the receipt (what the witness answered)."""
    line = json.dumps(anchor, sort_keys=True, separators=(",", ":"))
    return {"file": _publish_file, "http": _publish_http, "git": _publish_git}[witness.kind](witness, line)


def read_back(witness: Witness, project: str) -> list[dict[str, Any]] | None:
    """The anchors the witness holds for ``project`` (None: this witness does not serve them)."""
    found = {"file": _read_file, "http": _read_http, "git": _read_git}[witness.kind](witness, project)
    return None if found is None else [a for a in found if isinstance(a, dict) and a.get("project") == project]


# ---------------------------------------------------------------------- file

def _publish_file(witness: Witness, line: str) -> dict[str, Any]:
    path = Path(witness.target)
    data = (line + "\n").encode()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            offset = os.lseek(fd, 0, os.SEEK_END)
            if os.write(fd, data) != len(data):  # one write with O_APPEND: lines never interleave
                raise WitnessError(f"{path}: short write")
            os.fsync(fd)
        finally:
            os.close(fd)
        fsync_dir(path.parent)
    except OSError as exc:
        raise WitnessError(f"witness {path}: {exc.strerror or exc}") from None
    return {"offset": offset, "line_sha256": hashlib.sha256(line.encode()).hexdigest()}


def _read_file(witness: Witness, project: str) -> list[dict[str, Any]]:
    try:
        text = Path(witness.target).read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise WitnessError(f"witness {witness.target}: {exc.strerror or exc}") from None
    return [_json_or_none(line) for line in text.splitlines() if line.strip()]


# ---------------------------------------------------------------------- http

def _request(witness: Witness, method: str, path_and_query: str, body: bytes | None) -> tuple[int, bytes]:
    parts = urllib.parse.urlsplit(witness.target)
    url = urllib.parse.urlunsplit((parts.scheme, parts.netloc, "", "", "")) + path_and_query
    headers = {"Content-Type": "application/json", "User-Agent": "lokilog-audit-anchor"}
    if os.environ.get(TOKEN_ENV):
        headers["Authorization"] = f"Bearer {os.environ[TOKEN_ENV]}"
    try:
        answer = http_client.request(method, url, body=body, headers=headers, timeout=TIMEOUT)
    except http_client.HttpRequestError as exc:
        raise WitnessError(f"witness {witness.name}: {exc}") from None
    return answer.status, answer.body


def _publish_http(witness: Witness, line: str) -> dict[str, Any]:
    path = urllib.parse.urlsplit(witness.target).path or "/"
    status, body = _request(witness, "POST", path, line.encode())
    if not 200 <= status < 300:
        raise WitnessError(f"witness {witness.name}: HTTP {status}: {body[:200].decode(errors='replace')}")
    answer = _json_or_none(body.decode(errors="replace"))
    receipt: dict[str, Any] = {"status": status, "body_sha256": hashlib.sha256(body).hexdigest()}
    if isinstance(answer, dict) and isinstance(answer.get("id"), (str, int)):
        receipt["id"] = answer["id"]
    return receipt


def _read_http(witness: Witness, project: str) -> list[dict[str, Any]] | None:
    parts = urllib.parse.urlsplit(witness.target)
    status, body = _request(witness, "GET", f"{parts.path or '/'}?project={urllib.parse.quote(project)}", None)
    if status in (404, 405, 501):
        return None
    found = _json_or_none(body.decode(errors="replace")) if status == 200 else None
    if not isinstance(found, list):
        raise WitnessError(f"witness {witness.name}: GET answered HTTP {status} without a JSON list of anchors")
    return found


# ---------------------------------------------------------------------- git

def _git(witness: Witness, *args: str, check: bool = True) -> str:
    try:
        done = subprocess.run(["git", "-C", witness.target, *args], capture_output=True, text=True, timeout=TIMEOUT,
                              env={**os.environ, **_GIT_ENV}, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise WitnessError(f"witness {witness.name}: git: {exc}") from None
    if check and done.returncode != 0:
        raise WitnessError(f"witness {witness.name}: git {args[0]}: {done.stderr.strip() or done.returncode}")
    return done.stdout.strip() if done.returncode == 0 else ""


def _publish_git(witness: Witness, line: str) -> dict[str, Any]:
    old = _git(witness, "rev-parse", "-q", "--verify", witness.ref, check=False)
    tree = _git(witness, "hash-object", "-t", "tree", "-w", "--stdin")  # the empty tree: the message is the anchor
    parents = ["-p", old] if old else []
    commit = _git(witness, "commit-tree", tree, *parents, "-m", line)
    # Compare-and-swap: a concurrent anchor makes this fail rather than drop the other commit.
    _git(witness, "update-ref", witness.ref, commit, old or "0" * 40)
    return {"ref": witness.ref, "commit": commit}


def _read_git(witness: Witness, project: str) -> list[dict[str, Any]]:
    if not _git(witness, "rev-parse", "-q", "--verify", witness.ref, check=False):
        return []
    out = _git(witness, "log", "--format=%B%x1e", witness.ref)
    return [_json_or_none(chunk.strip()) for chunk in out.split("\x1e") if chunk.strip()]


def _json_or_none(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None

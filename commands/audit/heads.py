"""Signing tree heads: the Ed25519 key (made on first use) and the head event it records.

The key lives outside the audit directory, so a copy of `.loki/` (a checkpoint, a backup, a
repository someone pushed) never carries it: `$LOKI_AUDIT_STH_KEY` when set, else
`$XDG_CONFIG_HOME/lokilog/audit-sth-ed25519.pem` (`~/.config/...` without XDG). It is a PKCS#8
PEM file, mode 0600, in a 0700 directory; a key file others can read is refused, as ssh does.
"""
from __future__ import annotations

import base64
import os
import stat
from collections.abc import Mapping
from pathlib import Path

from eventlog import FileEventLog, now_timestamp
from eventlog.fsutil import fsync_dir, write_all
from projections.audit.errors import AuditError
from projections.audit.merkle.heads import (
    EXTRA_HINT, HEAD_TYPE, SignedHead, SigningUnavailableError, head_message, head_payload, key_id,
)

KEY_ENV = "LOKI_AUDIT_STH_KEY"
KEY_NAME = "audit-sth-ed25519.pem"


def key_path(env: Mapping[str, str] | None = None) -> Path:
    """Return where the signing key is kept (see the module docstring)."""
    env = os.environ if env is None else env
    if env.get(KEY_ENV):
        return Path(env[KEY_ENV]).expanduser()
    config = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME") or Path.home()) / ".config")
    return Path(config) / "lokilog" / KEY_NAME


def _crypto():
    try:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    except ImportError:
        raise SigningUnavailableError(f"signing tree heads needs `cryptography`: {EXTRA_HINT}") from None
    return serialization, Ed25519PrivateKey


def load_or_create_key(path: Path):
    """Return the Ed25519 private key at ``path``, generating it (0600) on first use."""
    serialization, private_type = _crypto()
    if not path.exists():
        _create_key(path, serialization, private_type)
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise AuditError(f"{path}: the signing key is readable by others (mode {stat.S_IMODE(mode):o}); chmod 600 it")
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, private_type):
        raise AuditError(f"{path} holds no Ed25519 private key")
    return key


def _create_key(path: Path, serialization, private_type) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    pem = private_type.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        write_all(fd, pem)
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(temp, path)  # fails if another process made the key first: theirs wins
    except FileExistsError:
        pass
    finally:
        temp.unlink()
    fsync_dir(path.parent)


def public_key_b64(key) -> str:
    from cryptography.hazmat.primitives import serialization

    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def sign_head(key, tree_size: int, root_hash: str, timestamp: str | None = None) -> SignedHead:
    """Sign ``{tree_size, root_hash, timestamp}`` (timestamp: now, by default)."""
    timestamp = timestamp or now_timestamp()
    public = public_key_b64(key)
    signature = key.sign(head_message(tree_size, root_hash, timestamp))
    return SignedHead(tree_size=tree_size, root_hash=root_hash, timestamp=timestamp,
                      signature=base64.b64encode(signature).decode(), public_key=public,
                      key_id=key_id(base64.b64decode(public)))


def record_head(loki_dir: Path, head: SignedHead) -> SignedHead:
    """Append the head to the log as an `audit` event, so witnesses can publish it; return it with its seq."""
    with FileEventLog(loki_dir) as log:
        receipt = log.append(HEAD_TYPE, "cli", head_payload(head))
    return SignedHead(**{**head.to_dict(), "seq": receipt.seq})

"""Settings of `lokilog serve`: where it binds and the bounds it enforces. Pure."""
from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from eventlog import InvalidEventError

from .ratelimit import Rate

#: The port Loki Mode's dashboard and its SDK assume.
DEFAULT_PORT = 57374
DEFAULT_HOST = "127.0.0.1"


@dataclass(frozen=True)
class ServeSettings:
    """Everything the app needs besides the `.loki/` directory's own files."""

    loki_dir: Path
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    max_body_bytes: int = 1024 * 1024
    max_header_bytes: int = 16 * 1024
    token_rate: Rate = field(default_factory=lambda: Rate(50, 200))
    client_rate: Rate = field(default_factory=lambda: Rate(200, 500))
    #: Failed authentications per client address: guessing tokens is slow.
    failure_rate: Rate = field(default_factory=lambda: Rate(2, 20))
    max_page: int = 1000
    tail_interval: float = 0.005
    sse_queue: int = 10_000
    sse_ping: float = 15.0

    @classmethod
    def from_env(cls, loki_dir: Path, env: Mapping[str, str] | None = None, **given) -> "ServeSettings":
        """Read ``LOKILOG_SERVE_RATE_TOKEN`` / ``_RATE_CLIENT`` (``PER_SECOND/BURST``) and ``_MAX_BODY``."""
        env = os.environ if env is None else env
        values = dict(given)
        try:
            if env.get("LOKILOG_SERVE_RATE_TOKEN"):
                values["token_rate"] = Rate.parse(env["LOKILOG_SERVE_RATE_TOKEN"])
            if env.get("LOKILOG_SERVE_RATE_CLIENT"):
                values["client_rate"] = Rate.parse(env["LOKILOG_SERVE_RATE_CLIENT"])
            if env.get("LOKILOG_SERVE_MAX_BODY"):
                values["max_body_bytes"] = int(env["LOKILOG_SERVE_MAX_BODY"])
        except ValueError as exc:
            raise InvalidEventError(str(exc)) from None
        return cls(Path(loki_dir), **values)


def is_loopback(host: str) -> bool:
    """True when ``host`` can only be reached from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False

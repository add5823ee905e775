"""Who is asking: bearer tokens, scopes and rate limits, as FastAPI dependencies."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from .errors import ApiError
from .ratelimit import Limiter
from .settings import ServeSettings
from .token_store import TokenStore
from .tokens import TokenRecord, match

_UNREAD = object()
_bearer = HTTPBearer(auto_error=False, description="A lokilog token: `lokilog token create --scope read`.")


@dataclass(frozen=True)
class Principal:
    """An authenticated caller."""

    token_id: str
    name: str
    scopes: frozenset[str]
    client: str

    @property
    def who(self) -> str:
        return f"token:{self.name}" if self.name == self.token_id else f"token:{self.name}({self.token_id})"


class Authenticator:
    """Matches presented tokens against the current store (re-read when config.yaml changes)."""

    def __init__(self, settings: ServeSettings, extra: list[TokenRecord] | None = None) -> None:
        self.store = TokenStore(settings.loki_dir)
        self.extra = list(extra or [])
        self.tokens = Limiter(settings.token_rate)
        self.clients = Limiter(settings.client_rate)
        self.failures = Limiter(settings.failure_rate)
        self.last_used: dict[str, float] = {}
        self._stamp: object = _UNREAD
        self._records: list[TokenRecord] = []

    def records(self) -> list[TokenRecord]:
        stamp = _stat(self.store.path)
        if stamp != self._stamp:
            self._records, self._stamp = self.store.all(), stamp
        return self._records + self.extra

    def authenticate(self, request: Request, credentials: HTTPAuthorizationCredentials | None) -> Principal:
        client = request.client.host if request.client else "unknown"
        now = time.monotonic()
        wait = self.clients.allow(f"client:{client}", now)
        if wait:
            raise _too_many(f"too many requests from {client}", wait)
        if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
            raise self._refuse(client, now, "a bearer token is required (Authorization: Bearer TOKEN)")
        record = match(credentials.credentials, self.records())
        if record is None:
            raise self._refuse(client, now, "the bearer token is not valid (unknown, revoked or expired)")
        wait = self.tokens.allow(f"token:{record.id}", now)
        if wait:
            raise _too_many(f"too many requests with token {record.id}", wait)
        self.last_used[record.id] = time.time()
        return Principal(record.id, record.name, record.granted, client)

    def _refuse(self, client: str, now: float, detail: str) -> ApiError:
        wait = self.failures.allow(f"fail:{client}", now)
        if wait:
            return _too_many(f"too many failed authentications from {client}", wait)
        return ApiError(401, "unauthorized", detail, {"WWW-Authenticate": 'Bearer realm="lokilog"'})


def _too_many(detail: str, wait: float) -> ApiError:
    return ApiError(429, "rate_limited", detail, {"Retry-After": str(max(1, int(wait + 0.999)))})


def _stat(path: Path) -> tuple | None:
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None
    return (info.st_mtime_ns, info.st_size, info.st_ino)


def require(scope: str):
    """A dependency that admits callers holding ``scope`` and returns who they are."""

    def dependency(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> Principal:
        principal = request.app.state.auth.authenticate(request, credentials)
        request.state.principal = principal
        if scope not in principal.scopes:
            raise ApiError(403, "forbidden", f"this needs a token with the {scope!r} scope; "
                                             f"this one has {', '.join(sorted(principal.scopes))}")
        return principal

    dependency.__name__ = f"require_{scope}"
    return dependency

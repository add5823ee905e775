"""One bounded HTTP exchange with a tracker (the backoff between attempts is eventlog.retry's).

Requests are not retried here: a POST that timed out may have landed, so the caller retries
the whole check-then-write step of an op, which looks first. This module classifies failures
(transient or permanent), caps the response size and never lets a credential into an error.
"""
from __future__ import annotations

import socket
import threading
import time
from typing import Any, Iterable

import msgspec

from eventlog.retry import parse_retry_after

from .errors import PermanentError, TransientError

_TRANSIENT_STATUS = {408, 425, 429, 500, 502, 503, 504}


def redact(text: str, secrets: Iterable[str]) -> str:
    """Remove every secret from ``text`` (a server may echo a header back in its error)."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "[redacted]")
    return text


class _Deadline:
    """A bound on one whole call: when it passes, the call's sockets are shut down.

    httpx's timeouts bound each read; a server sending one byte a second never trips them.
    httpx's ``trace`` extension hands over each new connection's socket, and a timer shuts it
    down at the deadline, which wakes the blocked read at once.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._mutex = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def trace(self, name: str, info: dict) -> None:
        if name == "connection.connect_tcp.complete":
            stream = info.get("return_value")
            sock = stream.get_extra_info("socket") if stream is not None else None
            if sock is not None:
                with self._mutex:
                    self._sockets.append(sock)
                    if self.expired:
                        _shutdown(sock)

    def _expire(self) -> None:
        with self._mutex:
            self.expired = True
            for sock in self._sockets:
                _shutdown(sock)

    def __enter__(self) -> "_Deadline":
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # closed already


class HttpClient:
    """A tracker's base URL, auth headers, timeout and response cap around one httpx.Client.

    ``timeout`` bounds each call as a whole (connect, send, every read), not only each read.
    """

    def __init__(self, base_url: str, headers: dict[str, str], timeout: float, max_bytes: int,
                 secrets: Iterable[str] = (), auth: tuple[str, str] | None = None) -> None:
        import httpx

        self._httpx = httpx
        self.timeout = timeout
        self.max_bytes = max_bytes
        self._secrets = tuple(s for s in secrets if s)
        self._client = httpx.Client(
            base_url=base_url, headers={"User-Agent": "lokilog", **headers}, auth=auth,
            timeout=httpx.Timeout(timeout), follow_redirects=False,
            # A fresh connection per call: its socket is the one the deadline can shut down.
            limits=httpx.Limits(max_keepalive_connections=0),
        )

    def close(self) -> None:
        self._client.close()

    def request(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                json: Any = None) -> tuple[int, Any, dict[str, str]]:
        """Send one request; return (status, decoded JSON or None, headers) for a 2xx answer."""
        httpx = self._httpx
        deadline = _Deadline(self.timeout)
        try:
            with deadline, self._client.stream(method, path, params=params, json=json,
                                               extensions={"trace": deadline.trace}) as response:
                body = self._read_capped(response, deadline)
                status, headers = response.status_code, dict(response.headers)
        except (httpx.TimeoutException, httpx.TransportError, httpx.StreamError) as exc:
            if deadline.expired or isinstance(exc, httpx.TimeoutException):
                raise TransientError(f"{method} {path}: no complete answer within {self.timeout:g}s "
                                     f"({type(exc).__name__})") from None
            raise TransientError(f"{method} {path}: {type(exc).__name__}: {self._clean(str(exc))}") from None
        if deadline.expired:
            raise TransientError(f"{method} {path}: no complete answer within {self.timeout:g}s") from None
        if status >= 300:
            self._raise_for(method, path, status, body, headers)
        return status, _decode(body, method, path), headers

    def _read_capped(self, response, deadline: _Deadline) -> bytes:
        chunks, size = [], 0
        for chunk in response.iter_bytes():
            if deadline.expired:
                break
            size += len(chunk)
            if size > self.max_bytes:
                raise PermanentError(f"response larger than {self.max_bytes} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    def _raise_for(self, method: str, path: str, status: int, body: bytes, headers: dict[str, str]):
        detail = self._clean(body[:300].decode("utf-8", "replace"))
        message = f"{method} {path}: HTTP {status}" + (f": {detail}" if detail else "")
        limited = status == 403 and (headers.get("retry-after") or headers.get("x-ratelimit-remaining") == "0")
        # Linear reports rate limiting as a GraphQL error code, whatever the HTTP status.
        if status in _TRANSIENT_STATUS or limited or b'"RATELIMITED"' in body[:4096]:
            raise TransientError(message, _retry_after(headers))
        raise PermanentError(message)

    def _clean(self, text: str) -> str:
        return " ".join(redact(text, self._secrets).split())[:300]


def _retry_after(headers: dict[str, str]) -> float | None:
    after = parse_retry_after(headers.get("retry-after"))
    if after is None and headers.get("x-ratelimit-remaining") == "0" and headers.get("x-ratelimit-reset", "").isdigit():
        after = max(0.0, int(headers["x-ratelimit-reset"]) - time.time())  # GitHub: epoch seconds
    return after


def _decode(body: bytes, method: str, path: str) -> Any:
    if not body.strip():
        return None
    try:
        return msgspec.json.decode(body)
    except msgspec.DecodeError:
        raise PermanentError(f"{method} {path}: the answer is not JSON") from None

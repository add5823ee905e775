"""The core's HTTP client: one bounded request over the standard library's ``http.client``.

The approval webhook, the audit witness and ``lokilog crash submit`` are core features, so they
cannot need httpx (the ``trackers``/``otel`` extra, imported only by those subscribers).
``http.client`` rather than ``urllib.request``: it never follows a redirect (a redirect could
carry a payload to a host the user never named), ignores proxy variables (a request goes where
its URL says), bounds every socket operation by ``timeout`` and costs less to import. Answers
of every status come back as a :class:`Response`; only a failure to talk raises.
"""
from __future__ import annotations

import http.client
import json
import urllib.parse
from dataclasses import dataclass
from typing import Any, Mapping

from eventlog import EventLogError

#: The most of a body read back: a chatty or hostile server cannot make us buffer forever.
MAX_BODY = 1 << 20


class HttpRequestError(EventLogError):
    """The request could not be made or answered (unreachable, refused, timed out, a bad reply)."""

    def __init__(self, url: str, cause: BaseException) -> None:
        super().__init__(f"{type(cause).__name__}: {cause}")
        self.url, self.kind, self.reason = url, type(cause).__name__, str(cause)


@dataclass(frozen=True)
class Response:
    """A server's answer: its status and the first bytes of its body."""

    status: int
    body: bytes

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def request(method: str, url: str, *, body: bytes | None = None, headers: Mapping[str, str] | None = None,
            timeout: float, max_body: int = MAX_BODY) -> Response:
    """Send one request to ``url`` (http or https) and read at most ``max_body`` bytes of the answer."""
    parts = urllib.parse.urlsplit(url)
    kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection = kind(parts.hostname or "", parts.port, timeout=timeout)
    except ValueError as exc:  # a port that is not a number
        raise HttpRequestError(url, exc) from None
    try:
        connection.request(method, target, body=body, headers=dict(headers or {}))
        response = connection.getresponse()
        return Response(response.status, response.read(max_body))
    except (OSError, http.client.HTTPException) as exc:
        raise HttpRequestError(url, exc) from None
    finally:
        connection.close()


def post_json(url: str, payload: Any, *, headers: Mapping[str, str] | None = None, timeout: float,
              max_body: int = MAX_BODY) -> Response:
    """POST ``payload`` as JSON (or ``bytes`` already encoded) to ``url``."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return request("POST", url, body=body, headers={"Content-Type": "application/json", **(headers or {})},
                   timeout=timeout, max_body=max_body)

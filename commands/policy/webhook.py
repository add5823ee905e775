"""Approval notifications: one signed JSON POST, with a bounded timeout and bounded retries.

The body is signed with HMAC-SHA256 using the secret in the environment variable the policy
names (``approvals.webhook.secret_env``); the receiver recomputes ``sha256=<hex>`` over the raw
body and compares it with ``X-Lokilog-Signature`` in constant time. ``X-Lokilog-Delivery`` is
the id of the ``approval.requested`` event: the idempotency key for a receiver that sees a
retry twice. Retries happen on connection errors, timeouts, 429 and 5xx, never on other 4xx.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import threading
from dataclasses import dataclass
from typing import Any, Mapping

import msgspec

from eventlog.retry import exponential

from ..http_client import HttpRequestError, post_json
from .model import WebhookSettings

SIGNATURE_HEADER = "X-Lokilog-Signature"
DELIVERY_HEADER = "X-Lokilog-Delivery"
EVENT_HEADER = "X-Lokilog-Event"
MAX_BACKOFF = 5.0


@dataclass(frozen=True)
class Delivery:
    """The outcome of a notification: recorded as ``approval.notified``."""

    delivered: bool
    attempts: int
    status: int | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"delivered": self.delivered, "attempts": self.attempts, "status": self.status, "error": self.error}


def sign(secret: bytes, body: bytes) -> str:
    """Return the signature header value for ``body``."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify(secret: bytes, body: bytes, signature: str) -> bool:
    """Check a signature header value in constant time (what a receiver does)."""
    return hmac.compare_digest(sign(secret, body), signature)


def notify(
    settings: WebhookSettings,
    payload: Mapping[str, Any],
    delivery_id: str,
    *,
    env: Mapping[str, str] | None = None,
    backoff: float = 0.5,
    stop: threading.Event | None = None,
) -> Delivery:
    """POST ``payload`` to the webhook, retrying with exponential backoff; never raises."""
    env = os.environ if env is None else env
    secret = None
    if settings.secret_env:
        value = env.get(settings.secret_env)
        if not value:
            return Delivery(False, 0, error=f"environment variable {settings.secret_env} is not set; nothing sent")
        secret = value.encode()
    body = msgspec.json.encode(payload)
    headers = {"Content-Type": "application/json", "User-Agent": "lokilog", DELIVERY_HEADER: delivery_id,
               EVENT_HEADER: "approval.requested"}
    if secret is not None:
        headers[SIGNATURE_HEADER] = sign(secret, body)
    waiter = stop or threading.Event()
    attempts, status, error = 0, None, None
    for attempt in range(settings.retries + 1):
        if attempt:
            if waiter.wait(exponential(attempt - 1, backoff, MAX_BACKOFF)):
                break
        attempts += 1
        status, error = _post_once(settings.url, body, headers, settings.timeout_seconds)
        if status is not None and 200 <= status < 300:
            return Delivery(True, attempts, status)
        if status is not None and status < 500 and status != 429:
            break  # the receiver refused this request: repeating it will not help
    return Delivery(False, attempts, status, error or f"HTTP {status}")


def _post_once(url: str, body: bytes, headers: dict[str, str], timeout: float) -> tuple[int | None, str | None]:
    try:
        # bounded read: a chatty receiver cannot make us buffer forever
        return post_json(url, body, headers=headers, timeout=timeout, max_body=65536).status, None
    except HttpRequestError as exc:
        return None, str(exc)

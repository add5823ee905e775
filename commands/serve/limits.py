"""ASGI middleware bounding what a request may send: header bytes and body bytes.

They run before routing, so an oversized request costs a few bytes of buffer, never a parse.
"""
from __future__ import annotations

import json


def error_body(status: int, code: str, detail: str) -> bytes:
    return json.dumps({"error": code, "detail": detail, "status": status}).encode()


async def send_error(send, status: int, code: str, detail: str, headers: dict[str, str] | None = None) -> None:
    body = error_body(status, code, detail)
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass


class SizeLimits:
    """Refuse requests whose headers exceed ``max_header_bytes`` (431) or body ``max_body_bytes`` (413)."""

    def __init__(self, app, max_header_bytes: int, max_body_bytes: int) -> None:
        self.app, self.max_header_bytes, self.max_body_bytes = app, max_header_bytes, max_body_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = scope.get("headers") or []
        if sum(len(k) + len(v) for k, v in headers) > self.max_header_bytes:
            return await send_error(send, 431, "headers_too_large",
                                    f"request headers exceed {self.max_header_bytes} bytes")
        length = dict(headers).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body_bytes):
            return await send_error(send, 413, "body_too_large", f"request body exceeds {self.max_body_bytes} bytes")
        seen = 0
        started = False

        async def bounded_receive():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body_bytes:
                    raise _TooLarge()
            return message

        async def tracking_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, bounded_receive, tracking_send)
        except _TooLarge:
            if not started:
                await send_error(send, 413, "body_too_large", f"request body exceeds {self.max_body_bytes} bytes")

"""Every state-changing request becomes a ``control.request`` event: who, what, from where, outcome.

An ASGI middleware: the event is appended after the handler ran and before the response is
released, so a client that saw the answer can find the request in the audit chain.
"""
from __future__ import annotations

import anyio

from eventlog import FileEventLog

MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def request_payload(scope: dict, status: int) -> dict | None:
    """The event payload for one answered request, or None if nobody was authenticated."""
    principal = (scope.get("state") or {}).get("principal")
    if principal is None:
        return None
    client = scope.get("client") or ("unknown", 0)
    return {
        "action": "request", "who": principal.who, "token_id": principal.token_id,
        "method": scope["method"], "path": scope["path"], "what": f"{scope['method']} {scope['path']}",
        "where": f"{client[0]}:{client[1]}", "status": status,
        "outcome": "ok" if status < 400 else ("denied" if status in (401, 403) else "failed"),
    }


class RequestRecorder:
    def __init__(self, app, loki_dir) -> None:
        self.app, self.loki_dir = app, loki_dir

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] not in MUTATING:
            return await self.app(scope, receive, send)
        start: list[dict] = []
        status = 500

        async def recording_send(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                start.append(message)  # held back until the request is recorded
                return
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                payload = request_payload(scope, status)
                if payload is not None:
                    await anyio.to_thread.run_sync(self._append, payload)
            if start:
                await send(start.pop())
            await send(message)

        await self.app(scope, receive, recording_send)

    def _append(self, payload: dict) -> None:
        with FileEventLog(self.loki_dir) as log:
            log.append("control", "api", payload)

"""Running the app under uvicorn on a socket we bind ourselves (so port 0 works and is printed)."""
from __future__ import annotations

import asyncio
import socket
from typing import Callable

import uvicorn

from .app import build_app
from .settings import ServeSettings
from .tokens import TokenRecord


def bind(host: str, port: int) -> socket.socket:
    """Bind a listening socket (OSError if the address is taken or not ours)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def serve(settings: ServeSettings, sock: socket.socket, *, extra_tokens: list[TokenRecord] | None = None,
          duration: float | None = None, on_ready: Callable[[], None] | None = None) -> None:
    """Serve until interrupted, terminated, or ``duration`` seconds have passed."""
    app = build_app(settings, extra_tokens)
    config = uvicorn.Config(
        app, log_level="warning", access_log=False, lifespan="on", timeout_graceful_shutdown=2,
        h11_max_incomplete_event_size=settings.max_header_bytes, limit_concurrency=4096,
        timeout_keep_alive=5, server_header=False,
    )
    server = uvicorn.Server(config)

    async def main() -> None:
        async def stop_later() -> None:
            while not server.started:
                await asyncio.sleep(0.01)
            try:
                if on_ready is not None:
                    on_ready()  # prints the address: raises if stdout was closed
            except BaseException:
                server.should_exit = True  # never left serving with nobody told where
                raise
            if duration is not None:
                await asyncio.sleep(duration)
                app.state.shutdown.set()
                server.should_exit = True

        watcher = asyncio.create_task(stop_later())
        try:
            await server.serve(sockets=[sock])
        finally:
            watcher.cancel()
        if watcher.done() and not watcher.cancelled() and watcher.exception() is not None:
            raise watcher.exception()

    asyncio.run(main())

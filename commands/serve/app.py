"""The ASGI application: routes, error bodies, the live tail's lifetime and the middleware stack."""
from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager

import anyio
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from eventlog.errors import EventLogError

from .auth import Authenticator
from .errors import status_for
from .limits import SizeLimits
from .recorder import RequestRecorder
from .schemas import ErrorBody
from .settings import ServeSettings
from .tail import Tail
from .tokens import TokenRecord

VERSION = "0.1.0"
_ERRORS = {code: {"model": ErrorBody, "description": text} for code, text in (
    (400, "Bad input"), (401, "No valid bearer token"), (403, "The token lacks the scope"), (404, "Not found"),
    (409, "Conflict with what is stored"), (413, "Body too large"), (429, "Rate limited (see Retry-After)"),
    (501, "Not backed by the log"),
)}


def build_app(settings: ServeSettings, extra_tokens: list[TokenRecord] | None = None):
    """Return the ASGI app serving one `.loki/` directory."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.shutdown = anyio.Event()
        stop = asyncio.Event()
        tail = app.state.tail = Tail(settings.loki_dir, settings.tail_interval, settings.sse_queue)
        task = asyncio.create_task(tail.run(stop))
        try:
            yield
        finally:
            app.state.shutdown.set()
            stop.set()
            await task
            tail.close()

    app = FastAPI(
        title="lokilog control plane", version=VERSION, lifespan=lifespan, responses=_ERRORS,
        description="The event log of one `.loki/` directory over HTTP: replay, live tail, run state, "
                    "time travel, checkpoints and rollback, approvals, audit, cost and metrics. "
                    "Every route needs `Authorization: Bearer TOKEN` with the scope it names "
                    "(read, control, audit; control implies read).",
    )
    app.state.settings = settings
    app.state.auth = Authenticator(settings, extra_tokens)

    @app.exception_handler(EventLogError)
    async def _library_error(request: Request, error: EventLogError):
        status, code = status_for(error)
        detail = str(error) if status != 500 else f"internal error: {type(error).__name__}: {error}"
        return JSONResponse({"error": code, "detail": detail, "status": status}, status_code=status,
                            headers=getattr(error, "headers", None) or None)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, error: StarletteHTTPException):
        code = {404: "not_found", 405: "method_not_allowed"}.get(error.status_code, "http_error")
        return JSONResponse({"error": code, "detail": str(error.detail), "status": error.status_code},
                            status_code=error.status_code, headers=getattr(error, "headers", None))

    from . import compat, dashboard, routes_audit, routes_control, routes_events, routes_state

    for module in (routes_events, routes_state, routes_control, routes_audit, compat, dashboard):
        app.include_router(module.router)
    dashboard.mount_static(app)
    app.add_middleware(RequestRecorder, loki_dir=settings.loki_dir)
    app.add_middleware(SizeLimits, max_header_bytes=settings.max_header_bytes, max_body_bytes=settings.max_body_bytes)
    return app

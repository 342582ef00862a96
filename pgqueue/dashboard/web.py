"""The dashboard as a Starlette app: its routes, its lifespan, its errors.

Pages are rendered on the server by Jinja2 with autoescaping on (`render`), and
served under a Content-Security-Policy that allows no inline script: a value
such as ``<script>alert(1)</script>`` shows as text, and could not run if it
didn't. Actions (`actions`) are plain form POSTs behind `guard.Guard`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import psycopg_pool
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from pgqueue import operations
from pgqueue.dashboard import forms
from pgqueue.dashboard.actions import Dashboard
from pgqueue.dashboard.guard import Guard
from pgqueue.db.table import QueueTable
from pgqueue.errors import ConfigurationError, PgQueueError


def build(
    pool: psycopg_pool.AsyncConnectionPool[Any],
    table: QueueTable,
    guard: Guard,
    *,
    refresh: float,
    where: str,
    lifespan: Callable[[Starlette], contextlib.AbstractAsyncContextManager[None]] | None = None,
    opener: Callable[[], Awaitable[None]] | None = None,
) -> Starlette:
    """The Starlette app of one queue's dashboard; ``opener``: opens its own
    pool before the first request, if its lifespan did not (a mounted app's)."""
    d = Dashboard(pool, table, guard, refresh=refresh, where=where)

    @contextlib.asynccontextmanager
    async def life(app: Starlette) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            if lifespan is not None:
                await stack.enter_async_context(lifespan(app))
            try:
                yield
            finally:
                await d.live.close()

    async def on_error(request: Request, exc: Exception) -> Response:
        if isinstance(exc, forms.BadInput):
            return d.refused(request, str(exc), 400)
        if isinstance(exc, operations.CommandNotFound | LookupError):
            return d.refused(request, str(exc), 404)
        if isinstance(exc, ConfigurationError):
            return d.refused(request, str(exc), 400)
        if isinstance(exc, PgQueueError):
            return d.refused(request, str(exc), 503)
        raise exc

    app = Starlette(
        routes=[
            Route("/", d.overview),
            Route("/commands", d.commands),
            Route("/commands/action", d.bulk, methods=["POST"]),
            Route("/commands/{command_id:int}", d.command),
            Route("/commands/{command_id:int}/{verb:str}", d.command_action, methods=["POST"]),
            Route("/executions/{execution_id:int}", d.execution),
            Route("/workers", d.workers),
            Route("/reports", d.reports),
            Route("/reports/{report_id:int}/resend", d.resend, methods=["POST"]),
            Route("/flow", d.flow_page),
            Route("/flow/{verb:str}", d.flow_action, methods=["POST"]),
            Route("/schedules", d.schedules_page),
            Route("/schedules/{name:str}/{verb:str}", d.schedule_action, methods=["POST"]),
            Route("/login", d.login_page),
            Route("/login", d.login, methods=["POST"]),
            Route("/logout", d.logout, methods=["POST"]),
            Route("/events", d.events),
            Mount("/static", StaticFiles(packages=[("pgqueue.dashboard", "static")])),
        ],
        exception_handlers={forms.BadInput: on_error, PgQueueError: on_error},
        lifespan=life,
    )
    app.state.dashboard = d
    if opener is not None:
        app.add_middleware(_Opening, opener=opener)
    return app


class _Opening:
    """Runs ``opener`` once, before the first request goes through."""

    def __init__(self, app: ASGIApp, opener: Callable[[], Awaitable[None]]) -> None:
        self.app = app
        self.opener = opener
        self.opened = False
        self.lock = asyncio.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.opened and scope["type"] == "http":
            async with self.lock:
                if not self.opened:
                    await self.opener()
                    self.opened = True
        await self.app(scope, receive, send)


__all__ = ["build"]

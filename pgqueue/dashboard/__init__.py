"""`pgqueue dashboard`: see and steer the queue in a browser.

``app(...)`` is an ASGI app (Starlette): `pgqueue dashboard` serves it with
uvicorn, and a host application mounts it where it likes::

    from pgqueue.dashboard import app
    host.mount("/queue", app(dsn, schema="noetl", read_only=True))

It reads with short statement timeouts and a LIMIT on every query, works under
a read-only database role, and acts (retry, cancel, pause, limits, schedules,
resending reports) only for a browser signed in with ``token``
(``PGQUEUE_DASHBOARD_TOKEN``); with no token it is read-only.
Needs the ``dashboard`` extra: ``pip install 'pgqueue[dashboard]'``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import psycopg_pool

from pgqueue.db.table import QueueTable

if TYPE_CHECKING:
    from starlette.applications import Starlette

#: where the token comes from when ``app`` is given none
TOKEN_VARIABLE = "PGQUEUE_DASHBOARD_TOKEN"  # noqa: S105 - a variable's name


def app(
    dsn: str | None = None,
    *,
    pool: psycopg_pool.AsyncConnectionPool[Any] | None = None,
    schema: str = "noetl",
    table: str = "command",
    token: str | None = None,
    read_only: bool = False,
    refresh: float = 2.0,
) -> Starlette:
    """The dashboard of the queue ``schema.table`` as an ASGI app.

    :param dsn: the database, for a pool the app opens and closes with its own
        lifespan; or give ``pool``, one of the host's (left open).
    :param token: what a browser signs in with to act; default
        ``PGQUEUE_DASHBOARD_TOKEN``; none: read-only.
    :param read_only: refuse every action even with a token.
    :param refresh: seconds between the live figures' reads (one read for all
        open pages).
    """
    from pgqueue.dashboard.guard import Guard
    from pgqueue.dashboard.web import build

    if (dsn is None) == (pool is None):
        raise ValueError("dashboard: give either dsn or pool")
    if refresh <= 0:
        raise ValueError("refresh: must be a positive number of seconds")
    given = token if token is not None else os.environ.get(TOKEN_VARIABLE)
    guard = Guard(given or None, read_only=read_only)
    lifespan = None
    opener = None
    if pool is None:
        assert dsn is not None  # noqa: S101 - checked above
        own = psycopg_pool.AsyncConnectionPool(
            dsn, min_size=1, max_size=4, open=False, name="pgqueue-dashboard"
        )
        pool = own

        @contextlib.asynccontextmanager
        async def lifespan(_: Any) -> AsyncIterator[None]:
            await own.open()
            try:
                yield
            finally:
                await own.close()

        async def opener() -> None:
            # mounted in a host application, whose lifespan does not run this
            # app's: the pool opens on the first request instead
            await own.open()

    queue = QueueTable(schema, table)
    return build(
        pool,
        queue,
        guard,
        refresh=refresh,
        where=f"{queue.schema}.{queue.table}",
        lifespan=lifespan,
        opener=opener,
    )


__all__ = ["TOKEN_VARIABLE", "app"]

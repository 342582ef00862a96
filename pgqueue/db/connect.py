"""Opening the database: a reachability check that says in one line why not
(password masked), and the pools pgqueue's processes run on."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
import psycopg_pool

from pgqueue import dsn as dsns
from pgqueue.errors import DatabaseUnavailable


async def check_reachable(dsn: str) -> None:
    """Raise `DatabaseUnavailable` with one clear line (password masked, libpq's
    words scrubbed) when the database is not there."""
    try:
        conn = await psycopg.AsyncConnection.connect(dsn, connect_timeout=10)
    except psycopg.Error as exc:
        where = dsns.mask(dsn) or "the PG* default"
        # the server answered and said no (a login, a role or a database it does
        # not know): not the same trouble as no answer at all
        if exc.sqlstate is not None or "FATAL" in str(exc):
            message = f"the database at {where} refused the connection: {_reason(exc)}"
        else:
            message = f"cannot reach the database at {where}: {_reason(exc)}"
        raise DatabaseUnavailable(message) from None
    await conn.close()


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    text = re.sub(r"^connection failed: ", "", text)
    return dsns.scrub(text[:300])


@asynccontextmanager
async def open_pool(
    dsn: str, *, max_size: int = 4, kwargs: dict[str, Any] | None = None, name: str = "pgqueue"
) -> AsyncIterator[psycopg_pool.AsyncConnectionPool[Any]]:
    """A pool on ``dsn``, open and filled, with TCP keepalives; closed on exit.
    `DatabaseUnavailable` when it cannot be."""
    await check_reachable(dsn)
    pool = psycopg_pool.AsyncConnectionPool(
        dsn,
        min_size=1,
        max_size=max_size,
        open=False,
        name=name,
        timeout=30,
        kwargs={**dsns.keepalives(dsn, kwargs or {}), **(kwargs or {})},
    )
    try:
        await pool.open(wait=True, timeout=30)
    except psycopg_pool.PoolTimeout:
        await pool.close()
        raise DatabaseUnavailable(f"cannot open connections to {dsns.mask(dsn)}") from None
    try:
        yield pool
    finally:
        await pool.close()


__all__ = ["check_reachable", "open_pool"]

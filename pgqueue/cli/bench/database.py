"""The bench's side of the database: its schemas, its statements, and the
plain helpers its measurements share (each on a connection of its own)."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
from psycopg import sql

from pgqueue.db.table import QueueTable
from pgqueue.enqueue import enqueue_many

#: pgqueue's side and the raw baseline's, on identical tables
SCHEMA = "pgqueue_bench"
RAW_SCHEMA = "pgqueue_bench_raw"
#: the package whose ``sql`` folder holds the bench's own statements
BENCH = "pgqueue.cli.bench"


def statement(schema: str, name: str, **literals: Any) -> sql.Composed:
    """The bench's statement ``name`` for the queue table of ``schema``."""
    return QueueTable(schema).statement(name, package=BENCH, **literals)


def execute(
    dsn: str, statement: sql.SQL | sql.Composed, params: dict[str, Any] | None = None
) -> list[Any]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        cur = conn.execute(statement, params)
        return cur.fetchall() if cur.description else []


def reset(dsn: str, schema: str) -> None:
    execute(dsn, statement(schema, "truncate"))


def vacuum(dsn: str, schema: str) -> None:
    execute(dsn, statement(schema, "vacuum"))


def fill(dsn: str, schema: str, count: int, *, chunk: int = 10_000) -> None:
    """``count`` no-op commands, through pgqueue's own bulk enqueue, ``chunk``
    commands a call, in one transaction."""

    command = {"step": "bench", "tool_kind": "noop", "input": {}}

    async def go() -> None:
        async with await psycopg.AsyncConnection.connect(dsn) as conn:
            for offset in range(0, count, chunk):
                commands = [command] * min(chunk, count - offset)
                await enqueue_many(conn, commands, table=QueueTable(schema))
            await conn.commit()

    asyncio.run(go())


def counts(dsn: str, schema: str) -> dict[str, int]:
    """Commands by state (the query `pgqueue status` runs)."""
    found: dict[str, int] = {}
    for _, status, n in execute(dsn, QueueTable(schema).statement("status_counts")):
        found[status] = found.get(status, 0) + int(n)
    return found

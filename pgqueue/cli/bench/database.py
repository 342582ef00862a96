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
#: the machine's ceiling: the raw loop on a minimal table (``min_create.sql``),
#: which no migration touches
MIN_SCHEMA = "pgqueue_bench_min"
#: NoETL's layout, beside pgqueue's own table in the layout mode
NOETL_SCHEMA = "pgqueue_bench_noetl"
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
    execute(dsn, statement(schema, "min_truncate" if schema == MIN_SCHEMA else "truncate"))


def vacuum(dsn: str, schema: str) -> None:
    execute(dsn, statement(schema, "min_vacuum" if schema == MIN_SCHEMA else "vacuum"))


def fill(dsn: str, schema: str, count: int, *, chunk: int = 10_000) -> None:
    """``count`` no-op commands, through pgqueue's own bulk enqueue, ``chunk``
    commands a call, in one transaction (on the minimal table: rows of one
    INSERT)."""
    if schema == MIN_SCHEMA:
        execute(dsn, statement(schema, "min_fill"), {"rows": count})
        return

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
    if schema == MIN_SCHEMA:
        return {status: int(n) for status, n in execute(dsn, statement(schema, "min_counts"))}
    found: dict[str, int] = {}
    for _, status, n in execute(dsn, QueueTable(schema).statement("status_counts")):
        found[status] = found.get(status, 0) + int(n)
    return found

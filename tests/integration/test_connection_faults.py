"""Connection faults: a small pool never deadlocks; an outage is a RetryLater, one log
line, and a reconnect."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import psycopg
import psycopg_pool
import pytest
from psycopg import sql

from pgqueue import PgCommandSource, RetryLater, Worker, enqueue_many_sync, migrate
from pgqueue.cli.embedded import EmbeddedServer, start_embedded
from tests.helpers import status_counts, wait_until_async

Conn = psycopg.Connection[Any]


async def test_a_pool_smaller_than_the_concurrency_never_deadlocks(dsn: str, db: Conn) -> None:
    enqueue_many_sync(db, [{"step": "s", "tool_kind": "noop", "input": {}}] * 300)
    async with psycopg_pool.AsyncConnectionPool(dsn, min_size=1, max_size=2, open=False) as pool:
        await pool.wait()
        source = PgCommandSource(
            pool, worker_id="tight", wait=False, lease_for=timedelta(seconds=2)
        )
        worker = Worker(source, concurrency=40, pool=pool)

        @worker.tool("noop")
        async def noop(cmd: Any, ctx: Any) -> None:
            await asyncio.sleep(0.01)

        stats = await asyncio.wait_for(worker.run(), timeout=120)
    assert stats["completed"] == 300
    assert status_counts(db) == {"COMPLETED": 300}


@pytest.fixture
def own_server() -> Iterator[EmbeddedServer]:
    """An embedded server this test may stop and start."""
    server = start_embedded("faults-test")
    with psycopg.connect(server.dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS noetl CASCADE"))
    migrate.upgrade(server.dsn)
    yield server
    if not server.running():
        server.restart()
    server.stop()


async def test_an_outage_is_retry_later_one_log_line_and_a_reconnect(
    own_server: EmbeddedServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="pgqueue")
    with psycopg.connect(own_server.dsn, autocommit=True) as conn:
        enqueue_many_sync(conn, [{"step": "s", "tool_kind": "noop", "input": {}}] * 5)
    pool = psycopg_pool.AsyncConnectionPool(
        own_server.dsn, min_size=1, max_size=4, open=False, timeout=1, reconnect_timeout=0
    )
    await pool.open(wait=True)
    source = PgCommandSource(pool, worker_id="survivor", wait=True, poll_interval=0.2)
    worker = Worker(source, concurrency=2, pool=pool)
    done: list[str] = []
    worker.register("noop", lambda cmd, ctx: done.append(cmd.command_id))
    run = asyncio.create_task(worker.run())
    await wait_until_async(lambda: asyncio.sleep(0, len(done) == 5), what="the first batch")

    await asyncio.to_thread(own_server.stop_now)
    # while it is down: the claims come back as RetryLater, many times over ...
    await wait_until_async(
        lambda: asyncio.sleep(0, worker.stats["retry_later"] >= 5),
        timeout=60,
        what="retries during the outage",
    )
    probe = PgCommandSource(pool, worker_id="probe", wait=False)
    pulled = await probe.next()
    assert pulled is not None and isinstance(pulled.outcome, RetryLater)
    await probe.nack(pulled.ack)
    # ... and the worker said so once, not once per poll
    outage_lines = [r for r in caplog.records if "cannot claim" in r.getMessage()]
    assert len(outage_lines) == 1
    assert not any(r.exc_info for r in caplog.records)

    await asyncio.to_thread(own_server.restart)
    with psycopg.connect(own_server.dsn, autocommit=True) as conn:
        enqueue_many_sync(conn, [{"step": "s", "tool_kind": "noop", "input": {}}] * 5)
    await wait_until_async(
        lambda: asyncio.sleep(0, len(done) == 10), timeout=60, what="work after the reconnect"
    )
    worker.stop()
    await asyncio.wait_for(run, 30)
    await pool.close()
    assert any("claiming again" in r.getMessage() for r in caplog.records)
    with psycopg.connect(own_server.dsn) as conn:
        assert status_counts(conn) == {"COMPLETED": 10}

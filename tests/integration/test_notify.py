"""Idle workers wake on LISTEN/NOTIFY; one notification per enqueue statement."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
import psycopg_pool

from pgqueue import Claimed, PgCommandSource, enqueue, enqueue_many
from tests.helpers import wait_until_async

Pool = psycopg_pool.AsyncConnectionPool[Any]


async def test_a_notification_wakes_an_idle_waiting_next(pool: Pool, dsn: str) -> None:
    # The poll interval is an hour: only the notification can end this wait
    # inside the test's timeout.
    async with PgCommandSource(pool, worker_id="w", wait=True, poll_interval=3600) as src:
        waiting = asyncio.create_task(src.next())
        await wait_until_async(
            lambda: asyncio.sleep(0, src.waiting == 1 and not waiting.done()), what="next() idle"
        )
        woken_before = src.notifications
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
            command_id = await enqueue(conn, step="s", tool_kind="noop", input={})
        pulled = await asyncio.wait_for(waiting, timeout=20)
        assert pulled is not None and isinstance(pulled.outcome, Claimed)
        assert pulled.outcome.command.command_id == command_id
        assert src.notifications > woken_before
        await src.ack(pulled.ack)


async def test_close_ends_a_waiting_next(pool: Pool) -> None:
    src = PgCommandSource(pool, worker_id="w", wait=True, poll_interval=3600)
    waiting = asyncio.create_task(src.next())
    await wait_until_async(lambda: asyncio.sleep(0, src.waiting == 1), what="next() idle")
    await src.close()
    assert await asyncio.wait_for(waiting, timeout=10) is None


async def test_one_notification_per_enqueue_statement(dsn: str) -> None:
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as listener:
        await listener.execute('LISTEN "pgqueue.noetl.command"')
        async with await psycopg.AsyncConnection.connect(dsn) as producer:
            await enqueue_many(
                producer,
                [{"step": "s", "tool_kind": "noop", "input": {"i": i}} for i in range(500)],
            )
            await producer.commit()
            await enqueue(producer, step="s", tool_kind="noop", input={})
            await producer.commit()
        received = [n async for n in listener.notifies(timeout=1.0)]
    assert len(received) == 2
    assert {n.payload for n in received} == {"insert"}


async def test_nothing_is_notified_for_a_rolled_back_enqueue(dsn: str) -> None:
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as listener:
        await listener.execute('LISTEN "pgqueue.noetl.command"')
        async with await psycopg.AsyncConnection.connect(dsn) as producer:
            await enqueue(producer, step="s", tool_kind="noop", input={})
            await producer.rollback()
        received = [n async for n in listener.notifies(timeout=0.5)]
    assert received == []

"""Operating on commands from Python: get, wait, cancel, requeue."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
import psycopg_pool
import pytest

import pgqueue
from pgqueue import Command, PgCommandSource, ToolContext, Worker, enqueue_many_sync


async def test_get_wait_cancel_and_requeue(dsn: str, db: psycopg.Connection[Any]) -> None:
    first, second, third = enqueue_many_sync(
        db, [{"step": "s", "tool_kind": "work", "input": {"n": n}} for n in range(3)]
    )
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        state = await pgqueue.get(conn, first)
        assert (state.status, state.attempts, state.finished) == ("PENDING", 0, False)
        assert state.context == {"n": 0} and state.created_at is not None
        with pytest.raises(pgqueue.CommandNotFound, match="no command 1"):
            await pgqueue.get(conn, 1)
        with pytest.raises(TimeoutError, match=r"still PENDING after 0\.2s"):
            await pgqueue.wait(conn, first, timeout=0.2)
        assert await pgqueue.cancel(conn, [third], reason="not needed") == [
            (int(third), int(third))
        ]
        cancelled = await pgqueue.get(conn, third)
        assert (cancelled.status, cancelled.error) == ("CANCELLED", "not needed")

        async def work(command: Command, ctx: ToolContext) -> Any:
            if command.input["n"] == 1:
                raise pgqueue.PermanentFailure("no good")
            await asyncio.sleep(0.3)
            return {"done": command.input["n"]}

        async with psycopg_pool.AsyncConnectionPool(dsn, min_size=1, open=False) as pool:
            worker = Worker(PgCommandSource(pool, worker_id="w", wait=False), pool=pool)
            worker.register("work", work)
            running = asyncio.create_task(worker.run())
            done = await pgqueue.wait(conn, first, timeout=30)  # woken as it finishes
            assert (done.status, done.result, done.worker_id) == ("COMPLETED", {"done": 0}, "w")
            assert done.started_at is not None and done.completed_at is not None
            await running
        failed = await pgqueue.get(conn, second)
        assert (failed.status, failed.error) == ("FAILED", "PermanentFailure: no good")
        assert await pgqueue.requeue(conn, [second]) == 1
        assert (await pgqueue.get(conn, second)).status == "PENDING"

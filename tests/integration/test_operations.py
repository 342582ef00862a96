"""Operating on commands from Python: get, wait, cancel, requeue."""

from __future__ import annotations

import asyncio
import logging
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
        assert await pgqueue.cancel(conn, [third], reason="not needed") == [third]
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
        assert await pgqueue.requeue(conn, [second]) == [second]
        state = await pgqueue.get(conn, second)
        assert state.status == "PENDING"
        # one id type across the API: what enqueue returns is what comes back
        assert state.command_id == second and isinstance(second, str)


def test_the_sync_twins_run_the_same_statements(db: psycopg.Connection[Any]) -> None:
    """For Django, Flask…: get, wait, cancel and requeue on a sync connection."""
    first, second, third = enqueue_many_sync(
        db, [{"step": f"s{n}", "tool_kind": "work", "input": {"n": n}} for n in range(3)]
    )
    assert pgqueue.get_sync(db, first).status == "PENDING"
    with pytest.raises(pgqueue.CommandNotFound):
        pgqueue.get_sync(db, 1)
    with pytest.raises(TimeoutError, match=r"still PENDING after 0\.1s"):
        pgqueue.wait_sync(db, first, timeout=0.1)
    assert pgqueue.cancel_sync(db, [first], reason="no") == [first]
    assert pgqueue.wait_sync(db, first, timeout=5).status == "CANCELLED"
    # by a filter instead of ids
    assert pgqueue.cancel_sync(db, step="s1") == [second]
    db.execute(
        "UPDATE noetl.command SET status = 'FAILED' WHERE command_id = ANY(%s)",
        ([int(second), int(third)],),
    )
    assert pgqueue.requeue_sync(db, tool_kind="work") == sorted([second, third])
    assert pgqueue.get_sync(db, third).status == "PENDING"
    with pytest.raises(ValueError, match="say which commands"):
        pgqueue.cancel_sync(db)


async def test_the_pull_model_completes_or_fails_what_it_claimed(
    pool: psycopg_pool.AsyncConnectionPool[Any], db: psycopg.Connection[Any]
) -> None:
    ok, retried, dead = enqueue_many_sync(
        db, [{"step": "s", "tool_kind": "k", "input": {"n": n}} for n in range(3)]
    )
    async with PgCommandSource(pool, worker_id="w", wait=False) as source:
        handles = {}
        while (pulled := await source.next()) is not None:
            assert isinstance(pulled.outcome, pgqueue.Claimed)
            await source.ack(pulled.ack)
            handles[pulled.outcome.command.command_id] = pulled.ack
        await source.complete(handles[ok], {"fine": True})
        again = await source.fail(handles[retried], "RuntimeError: try later")
        assert (again.status, again.attempts) == ("PENDING", 1)
        parked = await source.fail(handles[dead], "ValueError: never", terminal=True)
        assert parked.status == "FAILED"
    rows = {
        str(r[0]): r[1:]
        for r in db.execute("SELECT command_id, status, error FROM noetl.command").fetchall()
    }
    assert rows == {
        ok: ("COMPLETED", None),
        retried: ("PENDING", "RuntimeError: try later"),
        dead: ("FAILED", "ValueError: never"),
    }


async def test_a_tools_log_lines_carry_its_commands_fields(
    pool: psycopg_pool.AsyncConnectionPool[Any],
    db: psycopg.Connection[Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    (async_id, plain_id) = enqueue_many_sync(
        db,
        [
            {"step": "a", "tool_kind": "async", "input": {}},
            {"step": "p", "tool_kind": "plain", "input": {}},
        ],
    )

    async def in_loop(command: Command, ctx: ToolContext) -> Any:
        ctx.logger.warning("from the loop")
        return {}

    def in_thread(command: Command, ctx: ToolContext) -> Any:
        ctx.logger.warning("from a thread")
        return {}

    worker = Worker(PgCommandSource(pool, worker_id="w", wait=False), pool=pool)
    worker.register("async", in_loop)
    worker.register("plain", in_thread)
    with caplog.at_level(logging.WARNING, logger="pgqueue.tool"):
        await asyncio.wait_for(worker.run(), 30)
    lines = {r.getMessage(): r for r in caplog.records if r.name == "pgqueue.tool"}
    for message, command_id, step in (
        ("from the loop", async_id, "a"),
        ("from a thread", plain_id, "p"),
    ):
        record = lines[message]
        assert record.command_id == int(command_id)  # type: ignore[attr-defined]
        assert record.step == step and record.attempt == 1  # type: ignore[attr-defined]
        assert record.execution_id == int(command_id)  # type: ignore[attr-defined]

"""Every database call has a deadline, and lease upkeep cannot be starved or
blocked. Real faults: a SIGSTOPped backend, a table lock, a pool the tools
hold, a row lock held elsewhere."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import psycopg
import psycopg_pool
import pytest
from psycopg.conninfo import make_conninfo

from pgqueue import Claimed, Command, PgCommandSource, ToolContext, Worker, enqueue_many_sync
from pgqueue.db.deadlines import Deadline, Deadlines
from tests.helpers import row, status_counts, wait_until_async

Pool = psycopg_pool.AsyncConnectionPool[Any]
Conn = psycopg.Connection[Any]


async def noop(command: Command, ctx: ToolContext) -> dict[str, Any]:
    return {}


def short(statement: float = 1.0, lock: float = 0.3) -> Deadlines:
    limit = Deadline(timedelta(seconds=statement), timedelta(seconds=lock))
    return Deadlines(claim=limit, completion=limit)


def backends(db: Conn, application: str) -> list[int]:
    return [
        pid
        for (pid,) in db.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s", (application,)
        ).fetchall()
    ]


async def test_a_stopped_backend_costs_one_deadline_then_the_worker_goes_on(
    dsn: str, db: Conn
) -> None:
    # One of the pool's two backends is SIGSTOPped: it accepts the statement and
    # never answers (as a half-open connection does). Every claim and
    # completion behind it used to wait forever.
    enqueue_many_sync(db, [{"step": "s", "tool_kind": "noop", "input": {}}] * 40)
    application = f"stopped-{uuid.uuid4().hex[:8]}"
    conninfo = make_conninfo(dsn, application_name=application)
    async with psycopg_pool.AsyncConnectionPool(
        conninfo, min_size=2, max_size=2, open=False
    ) as pool:
        await pool.wait()
        (stopped, _) = backends(db, application)
        os.kill(stopped, signal.SIGSTOP)
        try:
            source = PgCommandSource(pool, worker_id="w", wait=False, deadlines=short())
            worker = Worker(source, concurrency=4, pool=pool)
            worker.register("noop", noop)
            stats = await asyncio.wait_for(worker.run(), 60)
        finally:
            # ended as the server ends a half-open connection's backend: a
            # stopped backend merely continued would yet run the claim it
            # holds (a claim by a worker gone, left to its lease), and the
            # table would not be the worker's own work alone
            db.execute("SELECT pg_terminate_backend(%s)", (stopped,))
            os.kill(stopped, signal.SIGCONT)
    assert status_counts(db) == {"COMPLETED": 40}
    assert stats["completed"] == 40 and stats["unrecorded"] == 0


async def test_a_table_lock_makes_claims_retry_instead_of_queueing_behind_it(
    pool: Pool, db: Conn, dsn: str
) -> None:
    ids = enqueue_many_sync(db, [{"step": "s", "tool_kind": "noop", "input": {}}] * 5)
    source = PgCommandSource(pool, worker_id="w", wait=True, poll_interval=0.1, deadlines=short())
    worker = Worker(source, concurrency=2, pool=pool)
    worker.register("noop", noop)
    with psycopg.connect(dsn) as holder:
        holder.execute("LOCK TABLE noetl.command IN ACCESS EXCLUSIVE MODE")
        run = asyncio.create_task(worker.run())
        try:
            # the claim gives up on the lock after lock_timeout, again and again
            await wait_until_async(
                lambda: asyncio.sleep(0, worker.stats["retry_later"] >= 2),
                timeout=20,
                what="claims to give up on the lock",
            )
        finally:
            holder.rollback()
        await wait_until_async(
            lambda: asyncio.sleep(0, status_counts(db) == {"COMPLETED": 5}),
            timeout=30,
            what="the commands to run once the lock is gone",
        )
        worker.stop()
        await asyncio.wait_for(run, 30)
    assert [row(db, i)["attempts"] for i in ids] == [0] * 5


async def kept_for(db: Conn, ids: list[str], taken: list[str], seconds: float) -> None:
    """Wait until the leases of ``ids`` were extended ``seconds`` past their
    first expiry (the rival claiming all along); stops early if it took one."""
    first = {i: row(db, i)["lease_expires_at"] for i in ids}

    async def kept() -> bool:
        await asyncio.sleep(0)
        return bool(taken) or all(
            row(db, i)["lease_expires_at"] is not None
            and row(db, i)["lease_expires_at"] >= first[i] + timedelta(seconds=seconds)
            for i in ids
        )

    await wait_until_async(kept, timeout=15, what=f"the leases kept {seconds}s past their expiry")


@asynccontextmanager
async def rival(dsn: str) -> AsyncIterator[list[str]]:
    """Another worker's source, claiming all the while: what it takes."""
    taken: list[str] = []
    stop = asyncio.Event()
    async with psycopg_pool.AsyncConnectionPool(dsn, min_size=1, max_size=2, open=False) as pool:
        await pool.wait()
        source = PgCommandSource(pool, worker_id="rival", wait=False)

        async def claim() -> None:
            while not stop.is_set():
                pulled = await source.next()
                if pulled is not None:
                    if isinstance(pulled.outcome, Claimed):
                        taken.append(pulled.outcome.command.command_id)
                    await source.ack(pulled.ack)
                await asyncio.sleep(0.05)

        task = asyncio.create_task(claim())
        try:
            yield taken
        finally:
            stop.set()
            await task
            await source.close()


async def test_tools_that_hold_the_whole_pool_cannot_starve_the_heartbeat(
    dsn: str, db: Conn
) -> None:
    # The README invites tools to use ctx.pool; two tools holding both of its
    # connections left the heartbeat none, and a live worker lost both leases.
    ids = enqueue_many_sync(db, [{"step": "s", "tool_kind": "hog", "input": {}}] * 2)
    async with psycopg_pool.AsyncConnectionPool(dsn, min_size=2, max_size=2, open=False) as pool:
        await pool.wait()
        source = PgCommandSource(pool, worker_id="w", wait=False, lease_for=timedelta(seconds=0.6))
        worker = Worker(source, concurrency=2, pool=pool)
        holding = asyncio.Event()

        release = asyncio.Event()
        held = 0

        @worker.tool("hog")
        async def hog(command: Command, ctx: ToolContext) -> dict[str, Any]:
            nonlocal held
            async with ctx.pool.connection():
                held += 1
                if held == 2:
                    holding.set()
                await release.wait()
            return {}

        run = asyncio.create_task(worker.run())
        await asyncio.wait_for(holding.wait(), 10)
        async with rival(dsn) as taken:
            await kept_for(db, ids, taken, 1.8)  # three leases past their first end
        release.set()
        stats = await asyncio.wait_for(run, 30)
    assert taken == []
    assert [(row(db, i)["status"], row(db, i)["attempts"]) for i in ids] == [("COMPLETED", 0)] * 2
    assert stats["lost"] == 0


async def test_a_row_locked_elsewhere_is_skipped_and_the_other_leases_are_kept(
    dsn: str, db: Conn, caplog: pytest.LogCaptureFixture
) -> None:
    locked, free = enqueue_many_sync(db, [{"step": "s", "tool_kind": "work", "input": {}}] * 2)
    async with psycopg_pool.AsyncConnectionPool(dsn, min_size=2, max_size=4, open=False) as pool:
        await pool.wait()
        source = PgCommandSource(pool, worker_id="w", wait=False, lease_for=timedelta(seconds=0.6))
        worker = Worker(source, concurrency=2, pool=pool)
        started = asyncio.Event()
        release = asyncio.Event()

        running = 0

        @worker.tool("work")
        async def work(command: Command, ctx: ToolContext) -> dict[str, Any]:
            nonlocal running
            running += 1
            if running == 2:
                started.set()
            await release.wait()
            return {}

        run = asyncio.create_task(worker.run())
        await asyncio.wait_for(started.wait(), 10)
        caplog.set_level(logging.WARNING, logger="pgqueue.lease_keeper")
        with psycopg.connect(dsn) as holder:
            holder.execute(
                "SELECT 1 FROM noetl.command WHERE command_id = %s FOR UPDATE", (int(locked),)
            )
            async with rival(dsn) as taken:
                await kept_for(db, [free], taken, 1.8)  # the row lock held all along
            holder.rollback()

        # the locked row's lease ran out meanwhile: its next beat extends it again
        # (until then the worker's own next claim could rescue it, a race of the
        # test's making)
        async def extended() -> bool:
            found = db.execute(
                "SELECT lease_expires_at > now() FROM noetl.command WHERE command_id = %s",
                (int(locked),),
            ).fetchone()
            return bool(found and found[0])

        await wait_until_async(extended, what="the locked row's lease extended again")
        release.set()
        stats = await asyncio.wait_for(run, 30)
    assert taken == []  # the free row's lease was kept; the locked one is skipped by claims
    assert (row(db, free)["status"], row(db, free)["attempts"]) == ("COMPLETED", 0)
    assert row(db, locked)["status"] == "COMPLETED"
    assert f"lease of command {locked} not extended" in caplog.text
    assert stats["lost"] == 0

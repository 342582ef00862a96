"""Finishing a claimed command in the caller's own transaction (pgqueue.complete,
fail, retry, cancel, and ctx.transaction() in a worker's tool): it commits or
rolls back with the application's writes, fenced by the claim token."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import psycopg
import psycopg_pool
import pytest

import pgqueue
from pgqueue import Claimed, PgCommandSource, PgHandle, enqueue_sync
from pgqueue.errors import LeaseLost
from pgqueue.models import Command
from pgqueue.tools import ToolContext
from pgqueue.worker import Worker
from tests.helpers import row, snapshot

Conn = psycopg.Connection[Any]
Pool = psycopg_pool.AsyncConnectionPool[Any]

APP_TABLE = "CREATE TABLE invoices (command_id text PRIMARY KEY, total int NOT NULL)"


def add(db: Conn, kind: str = "work") -> str:
    return enqueue_sync(db, step="s", tool_kind=kind, input={})


async def claimed(pool: Pool, worker_id: str = "w") -> PgHandle:
    source = PgCommandSource(pool, worker_id=worker_id, wait=False)
    pulled = await source.next()
    assert pulled is not None and isinstance(pulled.outcome, Claimed)
    await source.ack(pulled.ack)
    return pulled.ack


async def test_a_completion_commits_with_the_applications_writes(
    pool: Pool, dsn: str, db: Conn
) -> None:
    db.execute(APP_TABLE)
    command_id = add(db)
    handle = await claimed(pool)
    async with await psycopg.AsyncConnection.connect(dsn) as conn, conn.transaction():
        await conn.execute("INSERT INTO invoices VALUES (%s, 42)", (command_id,))
        await pgqueue.complete(conn, handle, {"invoice": 42})
        # not yet seen outside the transaction
        assert row(db, command_id)["status"] == "CLAIMED"
    assert (row(db, command_id)["status"], row(db, command_id)["result"]) == (
        "COMPLETED",
        {"invoice": 42},
    )
    assert db.execute("SELECT total FROM invoices").fetchall() == [(42,)]


async def test_a_rolled_back_completion_leaves_it_leased_and_its_retry_completes_it(
    pool: Pool, dsn: str, db: Conn
) -> None:
    db.execute(APP_TABLE)
    command_id = add(db)
    handle = await claimed(pool)
    before = row(db, command_id)
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        with pytest.raises(RuntimeError):
            async with conn.transaction():
                await conn.execute("INSERT INTO invoices VALUES (%s, 42)", (command_id,))
                await pgqueue.complete(conn, handle, {"invoice": 42})
                raise RuntimeError("the application changed its mind")
        after = row(db, command_id)
        assert (after["status"], after["lease_expires_at"], after["claim_token"]) == (
            before["status"],
            before["lease_expires_at"],
            before["claim_token"],
        )
        assert db.execute("SELECT count(*) FROM invoices").fetchone() == (0,)
        async with conn.transaction():
            await pgqueue.complete(conn, handle, {"second": True})
    assert row(db, command_id)["status"] == "COMPLETED"


async def test_a_stale_handle_raises_and_writes_nothing_after_the_new_holder_completed(
    pool: Pool, dsn: str, db: Conn
) -> None:
    command_id = add(db)
    stale = await claimed(pool, "stale")
    # its lease runs out; another worker rescues the row and completes it
    db.execute("UPDATE noetl.command SET lease_expires_at = now() - interval '1 s'")
    fresh = await claimed(pool, "fresh")
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        await pgqueue.complete(conn, fresh, {"by": "fresh"})
        await conn.commit()
        before = snapshot(db)
        for finish in (
            lambda: pgqueue.complete(conn, stale, {"by": "stale"}),
            lambda: pgqueue.fail(conn, stale, "stale"),
            lambda: pgqueue.retry(conn, stale),
            lambda: pgqueue.cancel(conn, stale, reason="stale"),
        ):
            with pytest.raises(LeaseLost, match="no longer holds it"):
                await finish()
            await conn.rollback()
    assert snapshot(db) == before
    assert row(db, command_id)["result"] == {"by": "fresh"}


async def test_fail_retry_and_cancel_in_the_callers_transaction(
    pool: Pool, dsn: str, db: Conn
) -> None:
    ids = [add(db) for _ in range(3)]
    handles = {h.claim.command_id: h for h in [await claimed(pool) for _ in ids] if h.claim}
    with psycopg.connect(dsn) as conn:
        pgqueue.fail_sync(conn, handles[int(ids[0])], "bad input")
        pgqueue.retry_sync(conn, handles[int(ids[1])], delay=timedelta(minutes=5), error="later")
        pgqueue.cancel_sync(conn, handles[int(ids[2])], reason="superseded")
        conn.commit()
    failed, retried, cancelled = (row(db, i) for i in ids)
    assert (failed["status"], failed["error"]) == ("FAILED", "bad input")
    assert (retried["status"], retried["attempts"], retried["error"]) == ("PENDING", 1, "later")
    assert (cancelled["status"], cancelled["error"]) == ("CANCELLED", "superseded")


async def test_a_tools_transaction_completes_its_command_with_its_writes(
    pool: Pool, db: Conn
) -> None:
    db.execute(APP_TABLE)
    ids = [add(db, "billing") for _ in range(3)]

    async def billing(command: Command, ctx: ToolContext) -> dict[str, Any]:
        async with ctx.transaction() as conn:
            await conn.execute("INSERT INTO invoices VALUES (%s, 7)", (command.command_id,))
            ctx.set_result({"invoice": command.command_id})
        if command.command_id == ids[1]:
            raise RuntimeError("after the commit: not run again")
        return {"ignored": True}

    worker = Worker(PgCommandSource(pool, worker_id="w", wait=False), pool=pool, concurrency=2)
    worker.register("billing", billing)
    stats = await worker.run()
    for command_id in ids:
        assert (row(db, command_id)["status"], row(db, command_id)["result"]) == (
            "COMPLETED",
            {"invoice": command_id},
        )
        assert row(db, command_id)["attempts"] == 0
    assert db.execute("SELECT count(*) FROM invoices").fetchone() == (3,)
    assert stats["completed"] == 3 and stats["retried"] == 0


async def test_a_tools_transaction_rolled_back_retries_the_command(pool: Pool, db: Conn) -> None:
    db.execute(APP_TABLE)
    command_id = add(db, "billing")
    runs: list[int] = []

    async def billing(command: Command, ctx: ToolContext) -> None:
        runs.append(command.attempts)
        async with ctx.transaction() as conn:
            await conn.execute("INSERT INTO invoices VALUES (%s, 7)", (command.command_id,))
            if command.attempts == 0:
                raise RuntimeError("rolled back with the invoice")

    source = PgCommandSource(
        pool,
        worker_id="w",
        wait=False,
        drain_within=timedelta(seconds=5),
        retry_policy=pgqueue.RetryPolicy(base=0.01, jitter=0),
    )
    worker = Worker(source, pool=pool)
    worker.register("billing", billing)
    await worker.run()
    assert runs == [0, 1]
    assert row(db, command_id)["status"] == "COMPLETED"
    assert db.execute("SELECT count(*) FROM invoices").fetchone() == (1,)

"""Faults at the worker's edges: a write that fails while parking a row, a
listener that cannot connect. The worker must go on, and the table say so."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
import psycopg_pool
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from pgqueue import Command, PgCommandSource, ToolContext, Worker, cancel, enqueue_many_sync
from pgqueue.pg_source import PgHandle
from tests.helpers import row, status_counts, wait_until_async

Pool = psycopg_pool.AsyncConnectionPool[Any]
Conn = psycopg.Connection[Any]


async def noop(command: Command, ctx: ToolContext) -> dict[str, Any]:
    return {}


def malformed_and_good(db: Conn) -> tuple[str, str]:
    bad, good = enqueue_many_sync(
        db,
        [
            {"step": "s", "tool_kind": "noop", "input": {}, "priority": 10},
            {"step": "s", "tool_kind": "noop", "input": {}},
        ],
    )
    db.execute("UPDATE noetl.command SET context = '[1]' WHERE command_id = %s", (int(bad),))
    return bad, good


async def test_a_serialization_failure_while_parking_a_malformed_row_is_retried(
    pool: Pool, db: Conn
) -> None:
    # The first attempt to park the row fails with a real 40001 from the server.
    bad, good = malformed_and_good(db)
    db.execute(
        """
        -- a sequence: its draws survive the failed statement's rollback
        CREATE SEQUENCE parked_tries;
        CREATE FUNCTION fail_once() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF nextval('parked_tries') = 1 THEN
                RAISE EXCEPTION 'could not serialize access' USING ERRCODE = '40001';
            END IF;
            RETURN NEW;
        END $$;
        CREATE TRIGGER fail_once BEFORE UPDATE ON noetl.command FOR EACH ROW
            WHEN (NEW.status = 'FAILED' AND OLD.status IS DISTINCT FROM 'FAILED')
            EXECUTE FUNCTION fail_once();
        """
    )
    worker = Worker(PgCommandSource(pool, worker_id="w", wait=False), pool=pool)
    worker.register("noop", noop)
    stats = await worker.run()  # it used to end here with the 40001
    assert (row(db, bad)["status"], row(db, bad)["attempts"]) == ("FAILED", 1)
    assert "not a JSON object" in row(db, bad)["error"]
    assert row(db, good)["status"] == "COMPLETED"
    assert (stats["claim_failed"], stats["completed"], stats["unrecorded"]) == (1, 1, 0)
    assert db.execute("SELECT last_value FROM parked_tries").fetchone() == (2,)  # tried twice


class CancelledBeforeTheNack(PgCommandSource):
    """An operator cancels each held row just before the worker parks it."""

    async def nack(self, handle: PgHandle, *, reason: str | None = None) -> Any:
        if handle.claim is not None:
            async with self.gateway.pool.connection() as conn:
                await cancel(conn, [handle.claim.command_id], reason="operator")
        return await super().nack(handle, reason=reason)


async def test_a_lease_lost_while_parking_a_malformed_row_does_not_end_the_worker(
    pool: Pool, db: Conn
) -> None:
    bad, good = malformed_and_good(db)
    worker = Worker(CancelledBeforeTheNack(pool, worker_id="w", wait=False), pool=pool)
    worker.register("noop", noop)
    stats = await worker.run()  # the LeaseLost used to escape the slot
    assert (row(db, bad)["status"], row(db, bad)["error"]) == ("CANCELLED", "operator")
    assert row(db, good)["status"] == "COMPLETED"
    assert (stats["cancelled"], stats["completed"]) == (1, 1)


async def test_a_listener_that_cannot_connect_only_adds_the_polls_latency(
    db: Conn, login: Any
) -> None:
    # The role may hold two connections; the pool takes both, so LISTEN can
    # never connect. Claims used to wait up to 5 s for it, every time.
    worker_dsn = login("pgqueue_worker")
    role = conninfo_to_dict(worker_dsn)["user"]
    db.execute(sql.SQL("ALTER ROLE {} CONNECTION LIMIT 2").format(sql.Identifier(role)))
    enqueue_many_sync(db, [{"step": "s", "tool_kind": "noop", "input": {}}] * 20)
    async with psycopg_pool.AsyncConnectionPool(
        worker_dsn, min_size=2, max_size=2, open=False
    ) as pool:
        await pool.wait()
        source = PgCommandSource(pool, worker_id="w", wait=True, poll_interval=0.1)
        worker = Worker(source, concurrency=4, pool=pool)
        worker.register("noop", noop)
        run = asyncio.create_task(worker.run())
        try:
            # Twenty no-op commands take a few polls; the 5 s waits made it 10 s for 4.
            await wait_until_async(
                lambda: asyncio.sleep(0, status_counts(db) == {"COMPLETED": 20}),
                timeout=4,
                what="all 20 completed while LISTEN cannot connect",
            )
        finally:
            worker.stop()
            await asyncio.wait_for(run, 30)
    assert source.notifications == 0  # it never listened: the poll did it all


async def test_a_row_claimed_ahead_whose_lease_ended_is_dropped_not_run(
    pool: Pool, db: Conn
) -> None:
    # No heartbeat reaches the rows claimed ahead here (its interval is an hour):
    # once their lease has ended a slot must not run them, for another worker
    # may already have. They come back by the rescue, with a fresh lease.
    from datetime import timedelta

    enqueue_many_sync(db, [{"step": "s", "tool_kind": "check", "input": {}}] * 6)
    # waiting (and polling): a dropped row is still leased for a moment, and
    # comes back to this worker by the rescue once its lease has ended
    source = PgCommandSource(
        pool,
        worker_id="w",
        wait=True,
        poll_interval=0.05,
        prefetch=4,
        max_batch=1,
        lease_for=timedelta(seconds=0.5),
    )
    worker = Worker(source, concurrency=1, pool=pool, heartbeat_interval=3600)
    started_on_a_dead_lease: list[str] = []

    @worker.tool("check")
    async def check(command: Command, ctx: ToolContext) -> dict[str, Any]:
        live = db.execute(
            "SELECT lease_expires_at > clock_timestamp() FROM noetl.command WHERE command_id = %s",
            (int(command.command_id),),
        ).fetchone()
        if not (live and live[0]):
            started_on_a_dead_lease.append(command.command_id)
        await asyncio.sleep(0.2)
        return {}

    run = asyncio.create_task(worker.run())
    try:
        await wait_until_async(
            lambda: asyncio.sleep(0, status_counts(db) == {"COMPLETED": 6}),
            timeout=60,
            what="all 6 completed",
        )
    finally:
        worker.stop()
        stats = await asyncio.wait_for(run, 30)
    assert started_on_a_dead_lease == []
    assert stats["dropped_ahead"] > 0
    assert status_counts(db) == {"COMPLETED": 6}

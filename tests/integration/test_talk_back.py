"""Commands that talk back: snooze, retry now, the attempt history and progress,
on a real table with a worker in this process."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import psycopg
import psycopg_pool
import pytest

import pgqueue
from pgqueue import Claimed, Command, PgCommandSource, RetryPolicy, ToolContext, Worker, waiting
from pgqueue.cli.show import attempts, render
from tests.acceptance.cli import pgqueue as pgqueue_cli
from tests.helpers import row, wait_until_async

Conn = psycopg.Connection[Any]
Pool = psycopg_pool.AsyncConnectionPool[Any]


def add(db: Conn, kind: str = "work") -> str:
    return pgqueue.enqueue_sync(db, step="s", tool_kind=kind, input={})


def worker(pool: Pool, *, lease: float = 30, **source: Any) -> Worker:
    pulled = PgCommandSource(
        pool, worker_id="w", wait=False, lease_for=timedelta(seconds=lease), **source
    )
    return Worker(pulled, pool=pool)


async def test_a_snooze_waits_without_spending_an_attempt(pool: Pool, db: Conn) -> None:
    command_id = add(db)
    runs: list[int] = []

    async def polling(command: Command, ctx: ToolContext) -> str:
        runs.append(command.attempts)
        if len(runs) < 3:
            raise pgqueue.Snooze(0.05)
        return "ready"

    w = worker(pool, drain_within=timedelta(seconds=5))
    w.register("work", polling)
    stats = await w.run()
    after = row(db, command_id)
    assert runs == [0, 0, 0]  # no attempt spent by a snooze
    assert (after["status"], after["attempts"], after["result"]) == ("COMPLETED", 0, "ready")
    assert stats["snoozed"] == 2 and after["attempt_log"] is None


async def test_a_snooze_is_due_after_its_delay_and_a_stale_one_writes_nothing(
    pool: Pool, dsn: str, db: Conn
) -> None:
    command_id = add(db)

    async def later(command: Command, ctx: ToolContext) -> None:
        raise pgqueue.Snooze(timedelta(hours=1))

    w = worker(pool)
    w.register("work", later)
    await w.run()
    after = row(db, command_id)
    assert (after["status"], after["attempts"], after["claim_token"]) == ("PENDING", 0, None)
    waits = db.execute(
        "SELECT due_at - now() FROM noetl.command WHERE command_id = %s", (int(command_id),)
    ).fetchone()[0]  # type: ignore[index]
    assert timedelta(minutes=59) < waits <= timedelta(hours=1)
    with pytest.raises(ValueError, match="snooze: from 0 up to a year"):
        pgqueue.Snooze(-1)


async def test_retry_now_makes_a_command_in_backoff_due_at_once(
    pool: Pool, dsn: str, db: Conn
) -> None:
    command_id = add(db)

    async def flaky(command: Command, ctx: ToolContext) -> None:
        raise RuntimeError("the API said 502")

    w = worker(pool, retry_policy=RetryPolicy(base=3600, jitter=0))
    w.register("work", flaky)
    await w.run()
    assert row(db, command_id)["status"] == "PENDING"  # in an hour's backoff
    made_due = pgqueue.retry_now_sync(db, [command_id])
    assert made_due == [command_id]
    due = db.execute(
        "SELECT due_at <= now(), attempts FROM noetl.command WHERE command_id = %s",
        (int(command_id),),
    ).fetchone()
    assert due == (True, 1)  # due now, its attempt kept
    # already due: nothing to do; and the CLI says so
    assert pgqueue.retry_now_sync(db, [command_id]) == []
    done = pgqueue_cli("retry-now", "--dsn", dsn, command_id)
    assert done.returncode == 1 and "not waiting" in done.stdout


async def test_the_attempt_history_keeps_each_failed_attempt_bounded(pool: Pool, db: Conn) -> None:
    command_id = pgqueue.enqueue_sync(db, step="s", tool_kind="work", input={}, max_attempts=14)

    async def failing(command: Command, ctx: ToolContext) -> None:
        raise RuntimeError(f"failure {command.attempts + 1}")

    w = worker(
        pool,
        retry_policy=RetryPolicy(base=0.001, factor=1, jitter=0),
        drain_within=timedelta(seconds=5),
    )
    w.register("work", failing)
    await w.run()
    state = pgqueue.get_sync(db, command_id)
    assert state.status == "FAILED" and state.attempts == 14
    log = state.attempt_log or []
    # the last ten of fourteen, oldest first, each with its worker and error
    assert [e["attempt"] for e in log] == list(range(5, 15))
    assert {e["worker"] for e in log} == {"w"}
    assert log[-1]["error"] == "RuntimeError: failure 14"
    assert all(e["claimed_at"] <= e["ended_at"] for e in log)
    table = attempts(state)
    assert table is not None and table.row_count == 10


async def test_a_lost_lease_is_in_the_history_of_the_rescued_command(pool: Pool, db: Conn) -> None:
    command_id = add(db)
    lost = PgCommandSource(pool, worker_id="gone", wait=False)
    pulled = await lost.next()
    assert pulled is not None and isinstance(pulled.outcome, Claimed)
    await lost.ack(pulled.ack)
    db.execute("UPDATE noetl.command SET lease_expires_at = now() - interval '1 s'")
    w = worker(pool)
    w.register("work", lambda command, ctx: "done")
    await w.run()
    state = pgqueue.get_sync(db, command_id)
    assert state.status == "COMPLETED" and state.attempts == 1
    (entry,) = state.attempt_log or []
    assert (entry["attempt"], entry["worker"]) == (1, "gone")
    assert entry["error"].startswith("lease expired")


async def test_progress_is_written_with_the_heartbeat_and_shown(pool: Pool, db: Conn) -> None:
    command_id = add(db)
    said = asyncio.Event()
    release = asyncio.Event()

    async def long(command: Command, ctx: ToolContext) -> str:
        ctx.progress({"done": 1, "of": 3})
        ctx.progress({"done": 2, "of": 3})
        said.set()
        await release.wait()
        return "done"

    w = worker(pool, lease=0.6)  # a heartbeat every 0.2 s
    w.register("work", long)
    written: list[int] = []
    w.on_progress = written.append
    run = asyncio.create_task(w.run())
    await asyncio.wait_for(said.wait(), 10)

    async def shown() -> bool:
        return row(db, command_id)["progress"] == {"done": 2, "of": 3}

    await wait_until_async(shown, what="the progress to be written")
    table = render(pgqueue.get_sync(db, command_id))
    assert any("progress" in str(cell) for column in table.columns for cell in column._cells)
    release.set()
    await asyncio.wait_for(run, 10)
    assert sum(written) == 1  # the last value said between two beats, once
    assert row(db, command_id)["status"] == "COMPLETED"


async def test_progress_of_a_stale_claim_is_not_written(pool: Pool, db: Conn) -> None:
    command_id = add(db)
    stale = PgCommandSource(pool, worker_id="stale", wait=False)
    pulled = await stale.next()
    assert pulled is not None and pulled.ack.claim is not None
    await stale.ack(pulled.ack)
    db.execute("UPDATE noetl.command SET lease_expires_at = now() - interval '1 s'")
    fresh = PgCommandSource(pool, worker_id="fresh", wait=False)
    assert (await fresh.next()) is not None
    claim = pulled.ack.claim
    beat = await stale.completer.heartbeat([claim], {claim.key: '{"stale": true}'})
    assert claim.key in beat.lost
    assert row(db, command_id)["progress"] is None


async def test_wait_is_woken_by_the_completion_not_by_a_poll(
    pool: Pool, dsn: str, db: Conn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A waiter that would not look again for a minute returns once the worker
    completes its command: the completion's transaction notified it. A worker
    knows of waiters only once told, and stops looking when none waits."""
    monkeypatch.setattr(waiting, "LOOK_EVERY", 60.0)
    gate = asyncio.Event()

    async def gated(command: Command, ctx: ToolContext) -> str:
        await gate.wait()
        return "done"

    source = PgCommandSource(pool, worker_id="w", wait=True, poll_interval=0.1)
    w = Worker(source, pool=pool)
    w.register("work", gated)
    run = asyncio.create_task(w.run())
    try:
        # nobody waits: no look after the completions
        first = add(db)

        async def completed(command_id: str) -> bool:
            return row(db, command_id)["status"] == "COMPLETED"

        gate.set()
        await wait_until_async(lambda: completed(first), what="the first completion")
        assert source.completer.waiters is False
        gate.clear()
        second = add(db)
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
            waiter = asyncio.create_task(pgqueue.wait(conn, second, timeout=60))

            async def told() -> bool:
                return source.completer.waiters

            await wait_until_async(told, what="the worker to hear of the waiter")
            gate.set()
            state = await asyncio.wait_for(waiter, 30)
        assert state.status == "COMPLETED" and state.result == "done"
        assert db.execute("SELECT count(*) FROM noetl.pgqueue_waiter").fetchone() == (0,)
        # the next completion's look finds nobody waiting: the worker stops looking
        third = add(db)
        await wait_until_async(lambda: completed(third), what="the third completion")
        assert source.completer.waiters is False
    finally:
        w.stop()
        await asyncio.wait_for(run, 30)


def test_wait_sync_in_a_transaction_block_polls_and_times_out(dsn: str, db: Conn) -> None:
    command_id = add(db)
    # not autocommit: no LISTEN, it polls
    with (
        psycopg.connect(dsn) as conn,
        pytest.raises(TimeoutError, match=r"still PENDING after 0\.3s"),
    ):
        pgqueue.wait_sync(conn, command_id, timeout=0.3)
    db.execute(
        "UPDATE noetl.command SET status = 'CANCELLED' WHERE command_id = %s", (int(command_id),)
    )
    with psycopg.connect(dsn, autocommit=True) as conn:
        assert pgqueue.wait_sync(conn, command_id, timeout=5).status == "CANCELLED"

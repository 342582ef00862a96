"""The worker's lease lifecycle on a real database, in one process."""

from __future__ import annotations

import asyncio
import math
from datetime import timedelta
from typing import Any

import psycopg
import psycopg_pool
import pytest

import pgqueue
from pgqueue import (
    Claimed,
    Command,
    LeaseLost,
    PgCommandSource,
    RetryPolicy,
    enqueue_sync,
)
from pgqueue.completer import Completer
from pgqueue.db.gateway import Gateway
from pgqueue.errors import PermanentFailure
from pgqueue.tools import ToolContext
from pgqueue.worker import Worker
from tests.helpers import row, snapshot, status_counts, wait_until_async

Pool = psycopg_pool.AsyncConnectionPool[Any]
Conn = psycopg.Connection[Any]


def add(db: Conn, kind: str = "work", **kwargs: Any) -> str:
    return enqueue_sync(db, step="s", tool_kind=kind, input=kwargs.pop("input", {}), **kwargs)


def make_worker(
    pool: Pool,
    worker_id: str = "w1",
    *,
    lease: float = 30,
    wait: bool = False,
    policy: RetryPolicy | None = None,
    **kwargs: Any,
) -> Worker:
    source = PgCommandSource(
        pool,
        worker_id=worker_id,
        wait=wait,
        lease_for=timedelta(seconds=lease),
        poll_interval=0.1,
        retry_policy=policy,
    )
    return Worker(source, pool=pool, **kwargs)


async def test_completed_with_result_after_running(pool: Pool, db: Conn) -> None:
    command_id = add(db, input={"x": 2})
    worker = make_worker(pool)
    seen: list[str] = []

    @worker.tool("work")
    async def work(cmd: Command, ctx: ToolContext) -> dict[str, Any]:
        seen.append(row(db, cmd.command_id)["status"])
        # RUNNING marks are batched: written within RUNNING_LINGER of the start
        await wait_until_async(
            lambda: asyncio.sleep(0, row(db, cmd.command_id)["status"] == "RUNNING"),
            timeout=10,
            what="the RUNNING mark",
        )
        return {"double": cmd.input["x"] * 2}  # type: ignore[operator]

    stats = await worker.run()
    assert seen == ["CLAIMED"]
    after = row(db, command_id)
    assert (after["status"], after["result"], after["error"]) == ("COMPLETED", {"double": 4}, None)
    assert after["started_at"] is not None and after["completed_at"] >= after["started_at"]
    assert (after["claim_token"], after["lease_expires_at"]) == (None, None)
    assert stats["completed"] == 1


async def test_a_fast_command_skips_the_running_write_but_keeps_its_times(
    pool: Pool, db: Conn
) -> None:
    command_id = add(db)
    worker = make_worker(pool)
    worker.register("work", lambda cmd, ctx: {"fast": True})
    await worker.run()
    after = row(db, command_id)
    assert after["status"] == "COMPLETED"
    assert after["started_at"] == after["claimed_at"] <= after["completed_at"]


async def test_heartbeats_extend_the_lease_while_the_tool_runs(pool: Pool, db: Conn) -> None:
    command_id = add(db)
    worker = make_worker(pool, lease=1.0)
    leases: list[Any] = []

    @worker.tool("work")
    async def work(cmd: Command, ctx: ToolContext) -> None:
        for _ in range(3):
            first = row(db, cmd.command_id)["lease_expires_at"]
            await wait_until_async(
                lambda first=first: asyncio.sleep(
                    0, row(db, cmd.command_id)["lease_expires_at"] > first
                ),
                timeout=10,
                what="a heartbeat",
            )
            leases.append(row(db, cmd.command_id)["lease_expires_at"])

    await worker.run()
    assert leases == sorted(leases) and len(set(leases)) == 3
    assert row(db, command_id)["status"] == "COMPLETED"  # outlived its 1s lease three times


async def test_a_stale_workers_heartbeat_and_completion_are_fenced(pool: Pool, db: Conn) -> None:
    command_id = add(db)
    stale = PgCommandSource(pool, worker_id="stale", wait=False)
    pulled = await stale.next()
    assert pulled is not None
    await stale.ack(pulled.ack)
    lease = pulled.ack.claim
    assert lease is not None
    stale.completer.mark_running_soon(lease)
    await stale.completer.drain()
    assert row(db, command_id)["status"] == "RUNNING"
    # The stale worker stalls past its lease; another claims the row again.
    db.execute("UPDATE noetl.command SET lease_expires_at = now() - interval '1 s'")
    fresh = PgCommandSource(pool, worker_id="fresh", wait=False)
    again = await fresh.next()
    assert again is not None and isinstance(again.outcome, Claimed)
    await fresh.ack(again.ack)
    before = snapshot(db)

    lost = (await stale.completer.heartbeat([lease])).lost
    assert isinstance(lost[lease.key], LeaseLost)
    assert "another claim" in str(lost[lease.key])
    with pytest.raises(LeaseLost):
        await stale.complete(pulled.ack, {"stale": True})
    with pytest.raises(LeaseLost):
        await stale.completer.retry_or_fail(lease, "stale failure")
    stale.completer.mark_running_soon(lease)
    await stale.completer.drain()
    assert snapshot(db) == before
    assert (row(db, command_id)["worker_id"], row(db, command_id)["status"]) == ("fresh", "CLAIMED")


async def test_a_batch_shares_its_claim_token_and_each_row_stays_fenced(
    pool: Pool, db: Conn
) -> None:
    # One claim statement draws one token for all its rows; every write still
    # matches the row's key with it, so a row claimed again by someone else is
    # fenced while its neighbours from the same batch complete.
    ids = [add(db) for _ in range(3)]
    gateway = Gateway(pool)
    stale = await gateway.claim_batch(
        worker_id="stale", limit=3, lease_for=timedelta(seconds=30), tool_kinds=None
    )
    assert len(stale) == 3 and len({r.token for r in stale}) == 1
    db.execute(
        "UPDATE noetl.command SET lease_expires_at = now() - interval '1 s' WHERE command_id = %s",
        (int(ids[1]),),
    )
    fresh = await gateway.claim_batch(
        worker_id="fresh", limit=3, lease_for=timedelta(seconds=30), tool_kinds=None
    )
    assert [str(r.command_id) for r in fresh] == [ids[1]]
    assert fresh[0].token != stale[0].token

    written, _ = await gateway.complete(
        (r.execution_id, r.command_id, r.token, '{"by": "stale"}') for r in stale
    )
    assert written == {r.key for r in stale} - {fresh[0].key}
    assert [row(db, i)["status"] for i in ids] == ["COMPLETED", "CLAIMED", "COMPLETED"]
    assert row(db, ids[1])["worker_id"] == "fresh"


def register_hanging_tool(worker: Worker) -> tuple[asyncio.Event, asyncio.Event]:
    """A "work" tool that runs until cancelled: events for its start and its
    cancellation."""
    started, cancelled = asyncio.Event(), asyncio.Event()

    @worker.tool("work")
    async def work(cmd: Command, ctx: ToolContext) -> None:
        started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    return started, cancelled


async def test_a_worker_that_loses_its_lease_cancels_its_tool(pool: Pool, db: Conn) -> None:
    command_id = add(db)
    worker = make_worker(pool, "loser", lease=0.6)
    started, cancelled = register_hanging_tool(worker)
    run = asyncio.create_task(worker.run())
    await asyncio.wait_for(started.wait(), 10)
    # Someone else takes the row over (as after a long stall).
    db.execute(
        "UPDATE noetl.command SET worker_id = 'thief', claim_token = gen_random_uuid(),"
        " status = 'RUNNING', lease_expires_at = now() + interval '1 hour'"
    )
    await asyncio.wait_for(cancelled.wait(), 10)
    stats = await asyncio.wait_for(run, 10)
    assert stats["lost"] == 1
    after = row(db, command_id)
    assert (after["worker_id"], after["status"], after["result"]) == ("thief", "RUNNING", None)


async def test_cancelling_a_running_command_stops_its_tool(pool: Pool, db: Conn) -> None:
    command_id = add(db)
    worker = make_worker(pool, lease=0.9)
    started, stopped = register_hanging_tool(worker)
    run = asyncio.create_task(worker.run())
    await asyncio.wait_for(started.wait(), 10)
    async with pool.connection() as conn:
        cancelled = await pgqueue.cancel(conn, [command_id], reason="operator said so")
    assert len(cancelled) == 1
    await asyncio.wait_for(stopped.wait(), 10)
    stats = await asyncio.wait_for(run, 10)
    assert stats["cancelled"] == 1
    after = row(db, command_id)
    assert (after["status"], after["error"], after["result"]) == (
        "CANCELLED",
        "operator said so",
        None,
    )


async def test_cancelling_a_pending_command_means_it_never_runs(pool: Pool, db: Conn) -> None:
    keep, drop = add(db), add(db)
    async with pool.connection() as conn:
        await pgqueue.cancel(conn, [drop])
    worker = make_worker(pool)
    ran: list[str] = []
    worker.register("work", lambda cmd, ctx: ran.append(cmd.command_id))
    await worker.run()
    assert ran == [keep]
    assert row(db, drop)["status"] == "CANCELLED"


class RecordingCompleter(Completer):
    """Keeps every nack's result, so the test reads the schedule the row got."""

    nacks: list[Any]

    async def retry_or_fail(self, claim: Any, error: str, *, terminal: bool = False) -> Any:
        result = await super().retry_or_fail(claim, error, terminal=terminal)
        self.nacks.append(result)
        return result


async def test_retry_schedule_follows_the_policy(pool: Pool, db: Conn) -> None:
    command_id = add(db, max_attempts=4)
    source = PgCommandSource(pool, worker_id="w", wait=True, poll_interval=0.05)
    recording = RecordingCompleter(
        source.gateway,
        worker_id="w",
        lease_for=source.lease_for,
        retry_policy=RetryPolicy(base=0.2, factor=2, cap=0.5, jitter=0),
    )
    recording.nacks = []
    source.completer = recording
    worker = Worker(source, pool=pool)
    attempts_seen: list[int] = []

    @worker.tool("work")
    async def work(cmd: Command, ctx: ToolContext) -> None:
        attempts_seen.append(cmd.attempts)
        raise RuntimeError(f"failure {cmd.attempts + 1}")

    run = asyncio.create_task(worker.run())
    await wait_until_async(
        lambda: asyncio.sleep(0, len(recording.nacks) == 4), timeout=30, what="4 nacks"
    )
    worker.stop()
    await asyncio.wait_for(run, 10)
    assert attempts_seen == [0, 1, 2, 3]
    assert [n.attempts for n in recording.nacks] == [1, 2, 3, 4]
    assert [n.status for n in recording.nacks] == ["PENDING", "PENDING", "PENDING", "FAILED"]
    gaps = [round((n.due_at - n.at).total_seconds(), 3) for n in recording.nacks[:3]]
    assert gaps == [0.2, 0.4, 0.5]  # doubles, capped at 0.5
    after = row(db, command_id)
    assert (after["status"], after["attempts"], after["error"]) == (
        "FAILED",
        4,
        "RuntimeError: failure 4",
    )


@pytest.mark.parametrize(
    ("behaviour", "error"),
    [
        ("permanent", "PermanentFailure: bad request"),
        ("not_json", "result is not JSON"),
        ("nan", "result is not JSON"),
    ],
)
async def test_terminal_tool_failures_park_at_once(
    pool: Pool, db: Conn, behaviour: str, error: str
) -> None:
    command_id = add(db, max_attempts=10)
    worker = make_worker(pool)

    @worker.tool("work")
    async def work(cmd: Command, ctx: ToolContext) -> Any:
        if behaviour == "permanent":
            raise PermanentFailure("bad request")
        if behaviour == "not_json":
            return {"when": object()}
        return {"x": math.nan}

    await worker.run()
    after = row(db, command_id)
    assert (after["status"], after["attempts"]) == ("FAILED", 1)
    assert error in after["error"]


async def test_a_tool_past_its_timeout_is_retried(pool: Pool, db: Conn) -> None:
    command_id = add(db)
    worker = make_worker(pool, timeout=0.2)

    @worker.tool("work")
    async def work(cmd: Command, ctx: ToolContext) -> None:
        await asyncio.sleep(3600)

    await worker.run()
    after = row(db, command_id)
    assert (after["status"], after["attempts"], after["error"]) == (
        "PENDING",
        1,
        "timed out after 0.2s",
    )


async def test_a_worker_claims_only_kinds_it_has_tools_for(pool: Pool, db: Conn) -> None:
    mine, other = add(db, "work"), add(db, "mystery")
    worker = make_worker(pool)
    worker.register("work", lambda cmd, ctx: None)
    await worker.run()
    assert (row(db, mine)["status"], row(db, other)["status"]) == ("COMPLETED", "PENDING")


async def test_stop_lets_running_commands_finish_within_the_grace(pool: Pool, db: Conn) -> None:
    for _ in range(6):
        add(db)
    worker = make_worker(pool, wait=True, concurrency=3, grace=30)
    release = asyncio.Event()
    running = 0

    @worker.tool("work")
    async def work(cmd: Command, ctx: ToolContext) -> None:
        nonlocal running
        running += 1
        await release.wait()

    run = asyncio.create_task(worker.run())
    await wait_until_async(lambda: asyncio.sleep(0, running == 3), what="3 running")
    worker.stop()
    release.set()
    stats = await asyncio.wait_for(run, 20)
    assert stats["completed"] == 3
    assert status_counts(db) == {"COMPLETED": 3, "PENDING": 3}


async def test_past_the_grace_running_commands_are_released_untouched(pool: Pool, db: Conn) -> None:
    ids = [add(db) for _ in range(2)]
    worker = make_worker(pool, wait=True, concurrency=2, grace=0.2)
    running = 0

    @worker.tool("work")
    async def work(cmd: Command, ctx: ToolContext) -> None:
        nonlocal running
        running += 1
        await asyncio.sleep(3600)

    run = asyncio.create_task(worker.run())
    await wait_until_async(lambda: asyncio.sleep(0, running == 2), what="2 running")
    worker.stop()
    stats = await asyncio.wait_for(run, 20)
    assert stats["released"] == 2
    for command_id in ids:
        after = row(db, command_id)
        assert (after["status"], after["attempts"], after["claim_token"]) == ("PENDING", 0, None)


async def test_lease_upkeep_outlives_the_last_running_command_after_stop(
    pool: Pool, db: Conn
) -> None:
    """`Worker.stop()` closed the source, and with it the heartbeat pool, at once:
    the lease keeper's next beat met `PoolClosed`, died, leases stopped being
    extended during the grace, and `run()` raised instead of returning."""
    command_id = add(db)
    started = asyncio.Event()
    finish = asyncio.Event()

    async def work(cmd: Any, ctx: ToolContext) -> Any:
        started.set()
        await finish.wait()
        return {"done": True}

    worker = make_worker(pool, lease=1.5, wait=True, grace=30)
    worker.register("work", work)
    run = asyncio.create_task(worker.run())
    await asyncio.wait_for(started.wait(), 10)
    claimed = row(db, command_id)["lease_expires_at"]

    async def beaten() -> bool:
        return bool(row(db, command_id)["lease_expires_at"] > claimed)

    # the keeper has beaten once: its connection is open when the stop comes
    await wait_until_async(beaten, timeout=10, what="a heartbeat before stop()")
    worker.stop()
    first = row(db, command_id)["lease_expires_at"]

    async def extended() -> bool:
        return bool(row(db, command_id)["lease_expires_at"] > first)

    # within the grace the lease goes on being kept, beat after beat
    await wait_until_async(extended, timeout=10, what="a heartbeat after stop()")
    second = row(db, command_id)["lease_expires_at"]

    async def again() -> bool:
        return bool(row(db, command_id)["lease_expires_at"] > second)

    await wait_until_async(again, timeout=10, what="another heartbeat after stop()")
    assert row(db, command_id)["status"] in ("CLAIMED", "RUNNING")
    finish.set()
    stats = await asyncio.wait_for(run, 30)
    assert stats["completed"] == 1
    assert row(db, command_id)["status"] == "COMPLETED"

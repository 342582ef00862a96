"""Each row of DESIGN.md §3's outcome table, asserted on the table after ack/nack."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import psycopg_pool
import pytest

from pgqueue import (
    AlreadyClaimed,
    Claimed,
    Failed,
    HandleAlreadySettled,
    PgCommandSource,
    PgQueueError,
    RetryLater,
    RetryPolicy,
    enqueue_sync,
)
from tests.helpers import add_rows, row, snapshot, status_counts, wait_until_async

Pool = psycopg_pool.AsyncConnectionPool[Any]
Conn = psycopg.Connection[Any]


def add(db: Conn, **kwargs: Any) -> str:
    kwargs.setdefault("step", "fetch")
    kwargs.setdefault("tool_kind", "http")
    kwargs.setdefault("input", {"url": "https://example.com"})
    return enqueue_sync(db, **kwargs)


def source(pool: Pool, worker: str = "w1", **kwargs: Any) -> PgCommandSource:
    kwargs.setdefault("wait", False)
    return PgCommandSource(pool, worker_id=worker, **kwargs)


async def test_scan_claim_then_ack_leaves_the_row_durably_claimed(pool: Pool, db: Conn) -> None:
    command_id = add(db, render_context={"region": "eu"})
    async with source(pool) as src:
        pulled = await src.next()
        assert pulled is not None
        match pulled.outcome:
            case Claimed(command=command):
                assert command.command_id == command_id
                assert command.render_context == {"region": "eu"}
            case other:
                pytest.fail(f"expected Claimed, got {other}")
        await src.ack(pulled.ack)
    after = row(db, command_id)
    assert after["status"] == "CLAIMED"
    assert after["worker_id"] == "w1"
    assert after["claimed_at"] is not None
    assert after["lease_expires_at"] > after["claimed_at"]
    assert after["claim_token"] is not None
    assert after["attempts"] == 0
    # nobody else can claim it while the lease lives
    async with source(pool, "w2") as other:
        assert await other.next() is None
        assert (await other.claim(command_id)).outcome == AlreadyClaimed()


async def test_targeted_claim_of_a_row_locked_by_another_claimer(
    pool: Pool, db: Conn, dsn: str
) -> None:
    command_id = add(db)
    before = snapshot(db)
    with psycopg.connect(dsn) as holder:
        holder.execute(
            "SELECT 1 FROM noetl.command WHERE command_id = %s FOR UPDATE", (int(command_id),)
        )
        async with source(pool) as src:
            pulled = await src.claim(command_id)
            assert pulled.outcome == AlreadyClaimed()
            await src.ack(pulled.ack)
        holder.rollback()
    assert snapshot(db) == before


@pytest.mark.parametrize("status", ["COMPLETED", "FAILED", "CANCELLED"])
async def test_targeted_claim_of_a_finished_row(pool: Pool, db: Conn, status: str) -> None:
    command_id = add(db)
    db.execute(
        "UPDATE noetl.command SET status = %s WHERE command_id = %s", (status, int(command_id))
    )
    before = snapshot(db)
    async with source(pool) as src:
        pulled = await src.claim(command_id)
        assert pulled.outcome == AlreadyClaimed()
        await src.ack(pulled.ack)
    assert snapshot(db) == before


async def test_targeted_claim_of_a_leased_row(pool: Pool, db: Conn) -> None:
    command_id = add(db)
    async with source(pool, "w1") as first, source(pool, "w2") as second:
        claimed = await first.claim(command_id)
        assert isinstance(claimed.outcome, Claimed)
        await first.ack(claimed.ack)
        before = snapshot(db)
        raced = await second.claim(command_id)
        assert raced.outcome == AlreadyClaimed()
        await second.nack(raced.ack)
    assert snapshot(db) == before
    assert row(db, command_id)["worker_id"] == "w1"


async def test_targeted_claim_of_a_row_not_yet_due(pool: Pool, db: Conn) -> None:
    command_id = add(db, delay=3600)
    before = snapshot(db)
    async with source(pool) as src:
        pulled = await src.claim(command_id)
        assert isinstance(pulled.outcome, RetryLater)
        assert "not due" in pulled.outcome.reason
        await src.nack(pulled.ack)
        assert await src.next() is None  # the scan does not take it either
    assert snapshot(db) == before


async def test_targeted_claim_of_a_missing_row(pool: Pool, db: Conn) -> None:
    async with source(pool) as src:
        pulled = await src.claim(424242, execution_id=7)
        assert isinstance(pulled.outcome, Failed)
        assert pulled.outcome.reason.startswith("UNRESOLVABLE")
        await src.nack(pulled.ack)
        garbage = await src.claim("not-a-number")
        assert isinstance(garbage.outcome, Failed)
        await src.nack(garbage.ack)
    assert status_counts(db) == {}


async def test_targeted_claim_with_execution_id_narrows_the_lookup(pool: Pool, db: Conn) -> None:
    add(db, execution_id=1, command_id=50)
    add(db, execution_id=2, command_id=50)
    async with source(pool) as src:
        ambiguous = await src.claim(50)
        assert (
            isinstance(ambiguous.outcome, Failed)
            and "several executions" in ambiguous.outcome.reason
        )
        await src.nack(ambiguous.ack)
        exact = await src.claim(50, execution_id=2)
        assert isinstance(exact.outcome, Claimed) and exact.outcome.command.execution_id == 2
        await src.ack(exact.ack)
    assert db.execute(
        "SELECT execution_id, status FROM noetl.command ORDER BY execution_id"
    ).fetchall() == [(1, "PENDING"), (2, "CLAIMED")]


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        ("UPDATE noetl.command SET tool_kind = NULL", "tool kind"),
        ("UPDATE noetl.command SET step_name = ''", "step"),
        ("UPDATE noetl.command SET context = '\"text\"'", "not a JSON object"),
        ("UPDATE noetl.command SET context = '[1, 2]'", "an array"),
        ("UPDATE noetl.command SET context = '{\"render_context\": 5}'", "render_context"),
        ("UPDATE noetl.command SET attempts = -1", "negative"),
        ("UPDATE noetl.command SET attempts = 5, max_attempts = 5", "exhausted"),
    ],
)
async def test_a_malformed_row_is_failed_then_parked_without_blocking_others(
    pool: Pool, db: Conn, setup: str, reason: str
) -> None:
    bad = add(db, priority=10)
    db.execute(setup)
    good = add(db, priority=0)
    async with source(pool) as src:
        first = await src.next()
        assert first is not None and isinstance(first.outcome, Failed)
        assert reason in first.outcome.reason
        second = await src.next()
        assert second is not None and isinstance(second.outcome, Claimed)
        assert second.outcome.command.command_id == good
        attempts_before = row(db, bad)["attempts"]
        await src.nack(first.ack)
        await src.ack(second.ack)
    parked = row(db, bad)
    assert parked["status"] == "FAILED"
    assert reason in parked["error"]
    # the attempt is spent, but attempts never pass the limit: a row already at
    # it (its lost attempts counted) is parked as it stands
    spent = 0 if reason == "exhausted" else 1
    assert parked["attempts"] == attempts_before + spent
    assert parked["attempts"] <= parked["max_attempts"] or attempts_before < 0
    assert parked["claim_token"] is None
    assert row(db, good)["status"] == "CLAIMED"


async def test_ack_of_a_failed_outcome_releases_the_row_unchanged(pool: Pool, db: Conn) -> None:
    bad = add(db)
    db.execute("UPDATE noetl.command SET context = '[]'")
    async with source(pool) as src:
        pulled = await src.next()
        assert pulled is not None and isinstance(pulled.outcome, Failed)
        await src.ack(pulled.ack)
    after = row(db, bad)
    assert (after["status"], after["attempts"], after["claim_token"]) == ("PENDING", 0, None)


async def test_nack_of_claimed_spends_an_attempt_and_backs_off(pool: Pool, db: Conn) -> None:
    command_id = add(db, max_attempts=3)
    policy = RetryPolicy(base=100, factor=2, cap=150, jitter=0)
    async with source(pool, retry_policy=policy) as src:
        pulled = await src.next()
        assert pulled is not None and isinstance(pulled.outcome, Claimed)
        await src.nack(pulled.ack, reason="boom")
    after = row(db, command_id)
    assert (after["status"], after["attempts"], after["error"]) == ("PENDING", 1, "boom")
    delay = (after["due_at"] - after["updated_at"]).total_seconds()
    assert delay == pytest.approx(100, abs=1)
    assert after["claim_token"] is None and after["lease_expires_at"] is None


async def test_a_second_settlement_raises_and_writes_nothing(pool: Pool, db: Conn) -> None:
    command_id = add(db)
    async with source(pool) as src:
        pulled = await src.next()
        assert pulled is not None
        await src.nack(pulled.ack)
        before = snapshot(db)
        with pytest.raises(HandleAlreadySettled):
            await src.nack(pulled.ack)
        with pytest.raises(HandleAlreadySettled):
            await src.ack(pulled.ack)
    assert snapshot(db) == before
    assert row(db, command_id)["attempts"] == 1


async def test_workers_only_claim_tool_kinds_they_run(pool: Pool, db: Conn) -> None:
    http = add(db, tool_kind="http")
    python = add(db, tool_kind="python")
    async with source(pool, tool_kinds=["python"]) as src:
        pulled = await src.next()
        assert pulled is not None and isinstance(pulled.outcome, Claimed)
        assert pulled.outcome.command.command_id == python
        await src.ack(pulled.ack)
        assert await src.next() is None
        routed = await src.claim(http)
        assert isinstance(routed.outcome, RetryLater) and "not served" in routed.outcome.reason
        await src.nack(routed.ack)
    assert row(db, http)["status"] == "PENDING"


async def test_the_claims_values_written_in_as_literals_keep_their_meaning(
    pool: Pool, db: Conn
) -> None:
    # The scan claim carries the worker id, the lease and the tool kinds as
    # literals (see claim_batch.sql): quotes, commas and braces stay data.
    odd_kinds = ["it's", "a,b", "{c}"]
    wanted = [add(db, tool_kind=kind) for kind in odd_kinds]
    other = add(db, tool_kind="a")
    worker = "o'brien'); DROP TABLE noetl.command; --"
    async with source(pool, worker, tool_kinds=odd_kinds, lease_for=timedelta(seconds=42)) as src:
        pulled = [await src.next() for _ in range(4)]
        claimed = [p for p in pulled if p is not None]
        assert sorted(
            p.outcome.command.command_id for p in claimed if isinstance(p.outcome, Claimed)
        ) == sorted(wanted)
        assert len(claimed) == 3
        for p in claimed:
            await src.ack(p.ack)
    for command_id in wanted:
        after = row(db, command_id)
        assert after["worker_id"] == worker
        assert after["lease_expires_at"] - after["claimed_at"] == timedelta(seconds=42)
    assert row(db, other)["status"] == "PENDING"


async def test_scan_order_is_priority_then_due_time_then_id(pool: Pool, db: Conn) -> None:
    low = add(db, priority=0)
    high = add(db, priority=5)
    older = add(db, priority=0, command_id=1, execution_id=1)
    db.execute("UPDATE noetl.command SET due_at = now() - interval '1 hour' WHERE command_id = 1")
    async with source(pool) as src:
        order = []
        while (pulled := await src.next()) is not None:
            assert isinstance(pulled.outcome, Claimed)
            order.append(pulled.outcome.command.command_id)
            await src.ack(pulled.ack)
    assert order == [high, older, low]


async def test_wait_false_returns_none_when_nothing_is_claimable(pool: Pool, db: Conn) -> None:
    add(db, delay=600)
    async with source(pool) as src:
        assert await src.next() is None


async def test_concurrent_next_calls_are_coalesced_into_distinct_claims(
    pool: Pool, db: Conn
) -> None:
    ids = {add(db) for _ in range(30)}
    async with source(pool) as src:
        limits: list[int] = []
        claim_batch = src.gateway.claim_batch

        async def counted(**kwargs: Any) -> Any:
            limits.append(kwargs["limit"])
            return await claim_batch(**kwargs)

        src.gateway.claim_batch = counted  # type: ignore[method-assign]
        pulled = await asyncio.gather(*(src.next() for _ in range(40)))
        # one claim statement, sized for all 40 callers, served them all
        assert limits == [40]
        got = [p for p in pulled if p is not None]
        claimed = [p.outcome.command.command_id for p in got if isinstance(p.outcome, Claimed)]
        for p in got:
            await src.ack(p.ack)
    assert sorted(claimed) == sorted(ids)
    assert status_counts(db) == {"CLAIMED": 30}


async def test_a_read_ahead_beside_the_claim_never_ends_a_drain_early(dsn: str, db: Conn) -> None:
    # With wait=False, "nothing claimable" ends a caller. A read-ahead claim runs
    # beside the leader's, so at the tail of the queue the leader may find every
    # row locked by it (or by a competing worker): that must not look like an
    # empty queue, or the read-ahead rows are given back unworked. Two sources
    # compete, as two worker processes would; the race needs a few rounds.
    async def drain(pool: Pool) -> list[str]:
        async with source(pool, max_batch=100, prefetch=100) as src:

            async def caller() -> list[str]:
                got = []
                while (pulled := await src.next()) is not None:
                    assert isinstance(pulled.outcome, Claimed), pulled.outcome
                    await src.ack(pulled.ack)
                    got.append(pulled.outcome.command.command_id)
                    await asyncio.sleep(0)  # a short tool
                return got

            return [c for got in await asyncio.gather(*(caller() for _ in range(100))) for c in got]

    for round_ in range(10):
        db.execute("TRUNCATE noetl.command")
        add_rows(db, 1, 400)
        async with (
            psycopg_pool.AsyncConnectionPool(dsn, min_size=2, max_size=4, open=False) as one,
            psycopg_pool.AsyncConnectionPool(dsn, min_size=2, max_size=4, open=False) as two,
        ):
            first, second = await asyncio.gather(drain(one), drain(two))
        claimed = first + second
        assert len(claimed) == len(set(claimed)) == 400, round_
        assert status_counts(db) == {"CLAIMED": 400}, round_


async def test_callers_wait_for_a_read_ahead_on_its_way_instead_of_claiming_alone(
    pool: Pool, db: Conn
) -> None:
    # A caller that finds no ready row while a read-ahead claim is on its way
    # takes a row from it; leading a claim of its own would cost a statement
    # (and a commit) for a row or two. Each claim statement draws one claim
    # token, so the tokens on the table count the claims and their sizes.
    add_rows(db, 1, 400)
    async with source(pool, max_batch=20, prefetch=20) as src:

        async def caller() -> None:
            while (pulled := await src.next()) is not None:
                await src.ack(pulled.ack)
                await asyncio.sleep(0)  # a short tool

        await asyncio.gather(*(caller() for _ in range(20)))
    sizes = db.execute(
        "SELECT count(*) FROM noetl.command GROUP BY claim_token ORDER BY 1"
    ).fetchall()
    assert sizes == [(20,)] * 20  # every claim a full batch


async def test_read_ahead_rows_go_back_untouched_on_close(pool: Pool, db: Conn) -> None:
    for _ in range(8):
        add(db)
    src = source(pool, prefetch=5)
    first = await src.next()  # a full claim of one row: the queue is busy, read ahead
    assert first is not None and isinstance(first.outcome, Claimed)
    await src.ack(first.ack)
    await wait_until_async(
        lambda: asyncio.sleep(0, status_counts(db) == {"CLAIMED": 6, "PENDING": 2}),
        what="the read-ahead claim",
    )
    second = await src.next()  # served from the read-ahead, no claim needed
    assert second is not None and isinstance(second.outcome, Claimed)
    await src.ack(second.ack)
    await src.close()
    assert await src.next() is None
    # the four read-ahead rows never handed out are PENDING again, untouched
    assert status_counts(db) == {"CLAIMED": 2, "PENDING": 6}
    assert db.execute(
        "SELECT count(*) FROM noetl.command WHERE status = 'PENDING' AND claim_token IS NULL"
        " AND attempts = 0"
    ).fetchone() == (6,)


async def test_a_database_error_during_a_claim_is_retry_later(dsn: str, db: Conn) -> None:
    add(db)
    slow = f"{dsn} options='-c lock_timeout=200'"
    with psycopg.connect(dsn) as holder:
        holder.execute("LOCK TABLE noetl.command IN ACCESS EXCLUSIVE MODE")
        async with psycopg_pool.AsyncConnectionPool(slow, min_size=1, open=False) as pool:
            await pool.wait()
            async with source(pool) as src:
                pulled = await src.next()
                assert pulled is not None
                assert isinstance(pulled.outcome, RetryLater)
                assert "55P03" in pulled.outcome.reason
                await src.nack(pulled.ack)
        holder.rollback()
    assert status_counts(db) == {"PENDING": 1}


async def test_an_unreachable_database_is_retry_later_not_a_crash() -> None:
    async with (
        psycopg_pool.AsyncConnectionPool(
            "host=127.0.0.1 port=1 dbname=x user=x connect_timeout=1",
            min_size=0,
            max_size=1,
            timeout=1,
            open=False,
        ) as pool,
        PgCommandSource(pool, worker_id="w", wait=False, listen=False) as src,
    ):
        pulled = await src.next()
        assert pulled is not None and isinstance(pulled.outcome, RetryLater)
        await src.nack(pulled.ack)


async def test_an_expired_lease_is_rescued_counting_the_lost_attempt(pool: Pool, db: Conn) -> None:
    command_id = add(db)
    async with source(pool, "dead", lease_for=timedelta(seconds=30)) as dead:
        pulled = await dead.next()
        assert pulled is not None
        await dead.ack(pulled.ack)
    db.execute(
        "UPDATE noetl.command SET status = 'RUNNING', lease_expires_at = now() - interval '1 s'"
    )
    async with source(pool, "rescuer") as rescuer:
        rescued = await rescuer.next()
        assert rescued is not None and isinstance(rescued.outcome, Claimed)
        assert rescued.outcome.command.attempts == 1
        await rescuer.ack(rescued.ack)
    after = row(db, command_id)
    assert (after["status"], after["worker_id"], after["attempts"], after["attempt"]) == (
        "CLAIMED",
        "rescuer",
        1,
        2,
    )


async def test_a_rescued_row_at_its_limit_is_parked_without_a_second_attempt(
    pool: Pool, db: Conn
) -> None:
    # The rescue counts the lost attempt; the nack that parks the row must not
    # count another one past the limit (it ended "2 of 1").
    command_id = add(db, max_attempts=1)
    async with source(pool, "dead") as dead:
        pulled = await dead.next()
        assert pulled is not None
        await dead.ack(pulled.ack)
    db.execute("UPDATE noetl.command SET lease_expires_at = now() - interval '1 s'")
    async with source(pool, "rescuer") as rescuer:
        rescued = await rescuer.next()
        assert rescued is not None
        assert rescued.outcome == Failed("attempts exhausted (1 of 1)")
        result = await rescuer.nack(rescued.ack)
        assert result is not None and (result.status, result.attempts) == ("FAILED", 1)
    after = row(db, command_id)
    assert (after["status"], after["attempts"], after["max_attempts"]) == ("FAILED", 1, 1)
    assert after["error"] == "attempts exhausted (1 of 1)"


async def test_backoff_grows_and_caps_and_a_poison_row_parks_without_blocking(
    pool: Pool, db: Conn
) -> None:
    poison = add(db, priority=100, max_attempts=4)
    healthy = [add(db, priority=0) for _ in range(3)]
    policy = RetryPolicy(base=10, factor=3, cap=60, jitter=0)
    delays = []
    served = []
    async with source(pool, retry_policy=policy) as src:
        for attempt in range(1, 5):
            # the poison row comes first (priority 100); a healthy row follows
            first = await src.next()
            assert first is not None and isinstance(first.outcome, Claimed)
            assert first.outcome.command.command_id == poison
            assert first.outcome.command.attempts == attempt - 1
            second = await src.next()
            if second is not None:
                assert isinstance(second.outcome, Claimed)
                served.append(second.outcome.command.command_id)
                await src.ack(second.ack)
            result = await src.nack(first.ack, reason="tool crashed")
            assert result is not None and result.attempts == attempt
            if attempt < 4:
                assert result.status == "PENDING"
                now = db.execute("SELECT now()").fetchone()
                assert now is not None
                delays.append(round((result.due_at - now[0]).total_seconds()))
                # time passes: make it due again without sleeping
                db.execute(
                    "UPDATE noetl.command SET due_at = now() WHERE command_id = %s", (int(poison),)
                )
        # the fourth nack reached max_attempts=4: parked, and never claimed again
        assert result.status == "FAILED"
        assert await src.next() is None
    assert delays == [10, 30, 60]  # grows x3, then capped at 60
    parked = row(db, poison)
    assert (parked["status"], parked["attempts"], parked["error"]) == ("FAILED", 4, "tool crashed")
    assert parked["completed_at"] is not None
    assert sorted(served) == sorted(healthy)


async def test_writes_commit_on_their_own_and_leave_the_pool_connection_as_found(
    dsn: str, db: Conn, tmp_path: Path
) -> None:
    # A caller's pool that is not in autocommit mode: each write is still its own
    # transaction (no BEGIN/COMMIT round trips), committed when it returns, and the
    # connection goes back to the pool as it came, even after a failed statement.
    command_id = add(db)
    trace = tmp_path / "libpq.trace"
    async with psycopg_pool.AsyncConnectionPool(dsn, min_size=1, max_size=1, open=False) as one:
        await one.wait()
        async with source(one) as src:
            # libpq's own trace of what goes over the wire during the claim
            async with one.connection() as conn:
                traced = trace.open("w")
                conn.pgconn.trace(traced.fileno())
            pulled = await src.next()
            async with one.connection() as conn:
                conn.pgconn.untrace()
                traced.close()
            assert pulled is not None and isinstance(pulled.outcome, Claimed)
            sent = trace.read_text()
            assert "UPDATE" in sent  # the claim went through this connection
            assert "BEGIN" not in sent and "COMMIT" not in sent
            # seen from another session at once: nothing left open
            assert row(db, command_id)["status"] == "CLAIMED"
            async with one.connection() as conn:
                assert conn.autocommit is False
                assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
            with pytest.raises(PgQueueError):
                await src.gateway.execute("SELECT 1/0")
            with pytest.raises(PgQueueError):
                await src.gateway.fetch(
                    "cancel",
                    {
                        "command_ids": [1],
                        "execution_id": 2**63,
                        "tool_kind": None,
                        "step": None,
                        "reason": "x" * 10,
                    },
                    role="operator",
                )
            async with one.connection() as conn:
                assert conn.autocommit is False
            await src.nack(pulled.ack, reason="boom")
            assert row(db, command_id)["status"] == "PENDING"

"""Flow control in the claim: pauses and concurrency limits, decided by the
claim statement (claim_batch.sql, claim_limited.sql), on a real table."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import psycopg
import psycopg_pool
import pytest
from pydantic import ValidationError

import pgqueue
from pgqueue import QueueTable
from pgqueue.db.gateway import Gateway
from pgqueue.flow import InvalidLimit
from tests.helpers import wait_until_async

Conn = psycopg.Connection[Any]
Pool = psycopg_pool.AsyncConnectionPool[Any]


def add(
    db: Conn,
    count: int,
    *,
    kind: str = "noop",
    execution: int | None = None,
    key: str | None = None,
    first: int = 1,
) -> None:
    """``count`` due commands of ``kind`` (each its own execution unless one is given)."""
    db.execute(
        """
        INSERT INTO noetl.command (execution_id, command_id, step_name, tool_kind, status,
                                   context, concurrency_key)
        SELECT coalesce(%(execution)s, g), g, 's', %(kind)s, 'PENDING', '{}', %(key)s
        FROM generate_series(%(first)s::bigint, %(first)s::bigint + %(count)s - 1) g
        """,
        {"count": count, "kind": kind, "execution": execution, "key": key, "first": first},
    )


async def claim(gateway: Gateway, kinds: list[str] | None = None, limit: int = 50) -> list[int]:
    rows = await gateway.claim_batch(
        worker_id="w", limit=limit, lease_for=timedelta(seconds=60), tool_kinds=kinds
    )
    return [int(r.command_id) for r in rows]


async def claimed_at_once(dsn: str, rounds: int = 5) -> AsyncIterator[list[int]]:
    """Eight claimers on eight connections, three claims each at once, ``rounds``
    times: the ids claimed in each round (the caller looks, and makes room)."""
    async with psycopg_pool.AsyncConnectionPool(dsn, min_size=8, max_size=8, open=False) as many:
        await many.wait()
        gateways = [Gateway(many, QueueTable()) for _ in range(8)]
        for _ in range(rounds):
            each = await asyncio.gather(*(claim(g, ["noop"]) for g in gateways for _ in range(3)))
            yield [i for taken in each for i in taken]


def finish(db: Conn, ids: list[int]) -> None:
    db.execute(
        "UPDATE noetl.command SET status = 'COMPLETED', completed_at = now()"
        " WHERE command_id = ANY(%s)",
        (ids,),
    )


@pytest.mark.parametrize("kinds", [["noop", "http"], None], ids=["named kinds", "every kind"])
async def test_a_paused_kind_is_not_claimed_until_resumed(
    pool: Pool, db: Conn, kinds: list[str] | None
) -> None:
    add(db, 5, kind="http")
    add(db, 5, kind="noop", first=100)
    paused = pgqueue.pause_sync(db, ["http"], reason="partner API down")
    assert [(p.tool_kind, p.reason) for p in paused] == [("http", "partner API down")]
    gateway = Gateway(pool, QueueTable())
    taken = await claim(gateway, kinds)
    assert sorted(taken) == list(range(100, 105))  # only noop's
    assert await claim(gateway, kinds) == []
    listed = pgqueue.paused_sync(db)
    assert [(p.tool_kind, p.waiting) for p in listed] == [("http", 5)]
    resumed = pgqueue.resume_sync(db, "http")
    assert [p.tool_kind for p in resumed] == ["http"]
    assert sorted(await claim(gateway, kinds)) == [1, 2, 3, 4, 5]
    assert pgqueue.resume_sync(db, "http") == []  # not paused any more: nothing to lift


async def test_a_paused_kind_is_not_rescued_either(pool: Pool, db: Conn) -> None:
    add(db, 2)
    gateway = Gateway(pool, QueueTable())
    assert len(await claim(gateway, ["noop"])) == 2
    db.execute("UPDATE noetl.command SET lease_expires_at = now() - interval '1 second'")
    pgqueue.pause_sync(db, "noop")
    assert await claim(gateway, ["noop"]) == []
    pgqueue.resume_sync(db, "noop")
    assert sorted(await claim(gateway, ["noop"])) == [1, 2]  # the rescue, now


async def test_a_tool_kind_limit_holds_its_count_and_frees_a_place_as_one_ends(
    pool: Pool, db: Conn
) -> None:
    add(db, 10)
    limit = pgqueue.set_limit_sync(db, tool_kind="noop", max_running=3)
    assert (limit.scope, limit.key, limit.max_running) == ("tool_kind", "noop", 3)
    gateway = Gateway(pool, QueueTable())
    first = await claim(gateway, ["noop"])
    assert first == [1, 2, 3]  # in claim order, no more than the limit
    assert await claim(gateway, ["noop"]) == []
    assert await claim(Gateway(pool, QueueTable()), None) == []  # nor by a worker of every kind
    finish(db, [2])
    assert await claim(gateway, ["noop"]) == [4]
    (listed,) = pgqueue.limits_sync(db)
    assert (listed.running, listed.waiting) == (3, 6)
    # raised at runtime: the next claim takes the room
    pgqueue.set_limit_sync(db, tool_kind="noop", max_running=5)
    assert await claim(gateway, ["noop"]) == [5, 6]
    # lowered below what runs: nothing is interrupted, no new claim until under it
    pgqueue.set_limit_sync(db, tool_kind="noop", max_running=2)
    assert await claim(gateway, ["noop"]) == []
    finish(db, [1, 3, 4])
    assert await claim(gateway, ["noop"]) == []  # 5 and 6 still hold both places
    finish(db, [5])
    assert await claim(gateway, ["noop"]) == [7]
    # cleared: back to the plain claim, everything due
    assert pgqueue.clear_limit_sync(db, tool_kind="noop") is not None
    assert await claim(gateway, ["noop"]) == [8, 9, 10]
    assert pgqueue.clear_limit_sync(db, tool_kind="noop") is None


async def test_limits_by_execution_and_by_key_all_have_to_have_room(pool: Pool, db: Conn) -> None:
    add(db, 6, execution=7, first=1)  # one execution of six
    add(db, 4, execution=8, first=11)  # another of four
    add(db, 3, key="tenant-a", first=21)  # three of one tenant, each its own execution
    pgqueue.set_limit_sync(db, every_execution=True, max_running=2)
    pgqueue.set_limit_sync(db, execution_id=8, max_running=1)  # an override for one
    pgqueue.set_limit_sync(db, key="tenant-a", max_running=1)
    gateway = Gateway(pool, QueueTable())
    taken = await claim(gateway, ["noop"])
    assert sorted(taken) == [1, 2, 11, 21]
    assert await claim(gateway, ["noop"]) == []
    finish(db, [2, 11, 21])
    assert sorted(await claim(gateway, ["noop"])) == [3, 12, 22]
    listed = {(limit.scope, limit.key): limit for limit in pgqueue.limits_sync(db)}
    assert listed[("execution", "8")].running == 1
    assert listed[("key", "tenant-a")].running == 1
    assert listed[("every_execution", "")].name == "every execution"


async def test_a_rescued_command_takes_its_lost_holders_place_not_one_more(
    pool: Pool, db: Conn
) -> None:
    add(db, 5)
    pgqueue.set_limit_sync(db, tool_kind="noop", max_running=2)
    gateway = Gateway(pool, QueueTable())
    assert await claim(gateway, ["noop"]) == [1, 2]
    db.execute(
        "UPDATE noetl.command SET lease_expires_at = now() - interval '1 second'"
        " WHERE command_id = 1"
    )
    # the expired lease is rescued into its own place; no new command gets it
    assert await claim(gateway, ["noop"]) == [1]
    assert db.execute(
        "SELECT count(*) FROM noetl.command WHERE status IN ('CLAIMED', 'RUNNING')"
    ).fetchone() == (2,)


async def test_concurrent_claims_never_exceed_a_limit(pool: Pool, dsn: str, db: Conn) -> None:
    """Eight claimers on eight connections, three claims each at once, five
    times over: each time exactly the limit is CLAIMED. (With the lock taken
    shared instead of exclusive, this failed in 3 runs of 3.)"""
    add(db, 400)
    pgqueue.set_limit_sync(db, tool_kind="noop", max_running=7)
    async for taken in claimed_at_once(dsn):
        held = db.execute("SELECT count(*) FROM noetl.command WHERE status = 'CLAIMED'").fetchone()
        assert (len(taken), held) == (7, (7,))
        finish(db, taken)


async def test_a_limit_set_while_a_plain_claim_is_under_way_counts_what_it_took(
    pool: Pool, dsn: str, db: Conn
) -> None:
    """A plain claim (no limit when it began) takes five rows and has not
    committed; a limit of five is set meanwhile. The limit's write waits for
    that claim (limit_lock.sql), and the next claim counts its five: never ten
    at once. (With the limit written under no lock, the next claim took five
    more.)"""
    add(db, 20)
    plain = QueueTable().statement(
        "claim_batch",
        any_kind=False,
        lease=timedelta(seconds=60),
        limit=5,
        tool_kinds=("noop",),
        worker_id="under-way",
    )
    async with await psycopg.AsyncConnection.connect(dsn) as under_way:
        # the plain claim, in a transaction left open: under way
        assert len(await (await under_way.execute(plain)).fetchall()) == 5
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as setter:
            setting = asyncio.create_task(
                pgqueue.set_limit(setter, tool_kind="noop", max_running=5)
            )

            def waiting(count: int) -> Callable[[], Awaitable[bool]]:
                async def done_or_waiting() -> bool:
                    found = db.execute(
                        "SELECT count(*) FROM pg_stat_activity"
                        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                    ).fetchone()
                    return setting.done() or found == (count,)

                return done_or_waiting

            await wait_until_async(waiting(1), what="the limit's write to finish or to wait")
            # a worker's next claim, meanwhile: at once if the limit is set
            # already, else it waits behind the limit's write
            gateway = Gateway(pool, QueueTable())
            claiming: asyncio.Task[list[int]] | None = None
            if setting.done():
                taken = await claim(gateway, ["noop"])
            else:
                claiming = asyncio.create_task(claim(gateway, ["noop"]))
                await wait_until_async(waiting(2), what="the claim to wait behind the limit")
            await under_way.commit()
            await setting
            if claiming is not None:
                taken = await claiming
            assert taken == []
    assert db.execute("SELECT count(*) FROM noetl.command WHERE status = 'CLAIMED'").fetchone() == (
        5,
    )


def test_a_limit_names_one_key_and_a_positive_count(db: Conn) -> None:
    with pytest.raises(InvalidLimit, match="exactly one of"):
        pgqueue.set_limit_sync(db, tool_kind="a", key="b", max_running=1)
    with pytest.raises(InvalidLimit, match="exactly one of"):
        pgqueue.set_limit_sync(db, max_running=1)
    with pytest.raises(InvalidLimit, match=r"^max_running: must be a positive integer, not 0$"):
        pgqueue.set_limit_sync(db, tool_kind="a", max_running=0)
    with pytest.raises(InvalidLimit, match=r"^execution_id: 'x' is not an integer$"):
        pgqueue.set_limit_sync(db, execution_id="x", max_running=1)
    with pytest.raises(InvalidLimit, match=r"^tool_kinds: name at least one tool kind$"):
        pgqueue.pause_sync(db, [])
    assert pgqueue.limits_sync(db) == [] and pgqueue.paused_sync(db) == []  # nothing written


def test_enqueue_stores_the_concurrency_key(db: Conn) -> None:
    command_id = pgqueue.enqueue_sync(
        db, step="s", tool_kind="noop", input={}, concurrency_key="tenant-9"
    )
    assert db.execute(
        "SELECT concurrency_key FROM noetl.command WHERE command_id = %s", (int(command_id),)
    ).fetchone() == ("tenant-9",)
    with pytest.raises(ValidationError, match="concurrency_key"):
        pgqueue.enqueue_sync(db, step="s", tool_kind="noop", input={}, concurrency_key="")


async def test_a_targeted_claim_obeys_pauses_and_limits_and_says_why(pool: Pool, db: Conn) -> None:
    from pgqueue import PgCommandSource, RetryLater

    add(db, 3, execution=5)
    async with PgCommandSource(pool, worker_id="w", wait=False) as source:
        pgqueue.pause_sync(db, "noop", reason="INC-7")
        held = await source.claim(1, execution_id=5)
        assert isinstance(held.outcome, RetryLater)
        assert held.outcome.reason == (
            "command 1 of execution 5 is held back: its tool kind noop is paused: INC-7"
        )
        pgqueue.resume_sync(db, "noop")
        pgqueue.set_limit_sync(db, execution_id=5, max_running=1)
        first = await source.claim(1, execution_id=5)
        assert first.outcome.__class__.__name__ == "Claimed"
        second = await source.claim(2, execution_id=5)
        assert isinstance(second.outcome, RetryLater)
        assert second.outcome.reason == (
            "command 2 of execution 5 is held back: limit full: execution 5, 1 running of at most 1"
        )
        await source.ack(first.ack)
    assert db.execute("SELECT count(*) FROM noetl.command WHERE status = 'CLAIMED'").fetchone() == (
        1,
    )


async def test_why_says_what_holds_a_pending_command(pool: Pool, dsn: str, db: Conn) -> None:
    add(db, 2, execution=5)
    db.execute("UPDATE noetl.command SET due_at = now() + interval '1 hour' WHERE command_id = 2")
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        # no worker in the registry: nobody serves noop
        assert await pgqueue.why(conn, 1) == (
            "no live worker serves its tool kind (start one with a tool for it)"
        )
        assert await pgqueue.why(conn, 2) == "not due yet (a delay, or a retry's backoff)"
        db.execute(
            "INSERT INTO noetl.pgqueue_worker (worker_id, host, pid, tool_kinds, concurrency)"
            " VALUES ('w', 'h', 1, '{noop}', 1)"
        )
        assert await pgqueue.why(conn, 1) == (
            "due: the next claim of a worker that serves its kind takes it"
        )
        await pgqueue.pause(conn, "noop", reason="INC-9")
        assert await pgqueue.why(conn, 1) == "held back: its tool kind noop is paused: INC-9"
        await pgqueue.resume(conn, "noop")
        await pgqueue.set_limit(conn, every_execution=True, max_running=1)
        db.execute(
            "INSERT INTO noetl.command (execution_id, command_id, step_name, tool_kind, status,"
            " context, lease_expires_at) VALUES (5, 9, 's', 'noop', 'RUNNING', '{}',"
            " now() + interval '1 minute')"
        )
        assert await pgqueue.why(conn, 1) == (
            "held back: limit full: every execution (execution 5), 1 running of at most 1"
        )
        await pgqueue.set_limit(conn, execution_id=5, max_running=3)  # its own comes first
        assert (await pgqueue.why(conn, 1) or "").startswith("due:")
        assert await pgqueue.why(conn, 9) is None  # running: nothing to explain

"""Fair share in the claim: one claim spread round-robin over executions or
concurrency keys (part_fair_scan.sql, part_fair_pending.sql), priority first."""

from __future__ import annotations

from collections import Counter
from typing import Any

import psycopg
import psycopg_pool
import pytest

import pgqueue
from pgqueue import QueueTable
from pgqueue.db.gateway import Gateway
from pgqueue.db.outbox import Outbox
from pgqueue.flow import InvalidLimit
from tests.integration.test_flow_control import add, claim, finish

Conn = psycopg.Connection[Any]
Pool = psycopg_pool.AsyncConnectionPool[Any]


def executions_of(db: Conn, ids: list[int]) -> Counter[int]:
    rows = db.execute(
        "SELECT execution_id FROM noetl.command WHERE command_id = ANY(%s)", (ids,)
    ).fetchall()
    return Counter(int(r[0]) for r in rows)


@pytest.mark.parametrize("kinds", [["noop"], None], ids=["named kinds", "every kind"])
@pytest.mark.parametrize("limited", [False, True], ids=["no limit", "under a limit"])
async def test_a_claim_is_spread_over_executions_not_taken_by_the_oldest(
    pool: Pool, db: Conn, kinds: list[str] | None, limited: bool
) -> None:
    add(db, 1000, execution=1, first=1)  # one big execution, due first
    for e in range(2, 12):  # then ten of three each
        add(db, 3, execution=e, first=e * 10_000)
    gateway = Gateway(pool, QueueTable())
    if limited:
        pgqueue.set_limit_sync(db, key="nobody", max_running=1)  # the limited claim, no bound
    # off: the oldest first, all of the big one
    assert executions_of(db, await claim(gateway, kinds, limit=11)) == {1: 11}
    assert pgqueue.set_fair_share_sync(db, "execution") == "execution"
    await claim(gateway, kinds, limit=1)  # the claim after the switch reads it
    # on: one of each, the big one (with 12 running) in the last place
    taken = await claim(gateway, kinds, limit=11)
    assert executions_of(db, taken) == {e: 1 for e in range(1, 12)}
    taken = await claim(gateway, kinds, limit=11)
    assert executions_of(db, taken) == {e: 1 for e in range(1, 12)}


async def test_the_fewest_running_go_first_across_claims(pool: Pool, db: Conn) -> None:
    add(db, 500, execution=1, first=1)
    for e in range(2, 6):
        add(db, 3, execution=e, first=e * 10_000)
    pgqueue.set_fair_share_sync(db, "execution")
    gateway = Gateway(pool, QueueTable())
    await claim(gateway, ["noop"], limit=1)  # reads the switch (the oldest: execution 1)
    # 4 short executions of 3: three rounds of 4 each, one more of the big one each round
    seen: Counter[int] = Counter()
    for _ in range(3):
        taken = await claim(gateway, ["noop"], limit=5)
        seen += executions_of(db, taken)
        finish(db, taken)
    assert seen == {1: 3, 2: 3, 3: 3, 4: 3, 5: 3}


async def test_priority_comes_before_fair_share(pool: Pool, db: Conn) -> None:
    add(db, 50, execution=1, first=1)
    add(db, 3, execution=2, first=100)
    db.execute("UPDATE noetl.command SET priority = 5 WHERE command_id BETWEEN 1 AND 4")
    pgqueue.set_fair_share_sync(db, "execution")
    gateway = Gateway(pool, QueueTable())
    await claim(gateway, ["noop"], limit=1)
    assert sorted(await claim(gateway, ["noop"], limit=4)) == [2, 3, 4, 100]


async def test_fair_share_over_concurrency_keys(pool: Pool, db: Conn) -> None:
    # rows with no key are one group, seen in the claim's window in claim order
    add(db, 2, first=3000)
    add(db, 100, key="big", first=1)
    add(db, 2, key="small-a", first=1000)
    add(db, 2, key="small-b", first=2000)
    pgqueue.set_fair_share_sync(db, "key")
    assert pgqueue.fair_share_sync(db) == "key"
    gateway = Gateway(pool, QueueTable())
    assert await claim(gateway, ["noop"], limit=1) == [3000]  # the switch is read
    taken = await claim(gateway, ["noop"], limit=4)
    keys = db.execute(
        "SELECT coalesce(concurrency_key, '-') FROM noetl.command WHERE command_id = ANY(%s)",
        (taken,),
    ).fetchall()
    assert sorted(k for (k,) in keys) == ["-", "big", "small-a", "small-b"]
    pgqueue.set_fair_share_sync(db, "off")
    assert pgqueue.fair_share_sync(db) is None


def test_a_bad_fair_share_is_refused_naming_the_field(db: Conn) -> None:
    with pytest.raises(InvalidLimit, match="fair_share: 'execution', 'key' or 'off', not 'tenant'"):
        pgqueue.set_fair_share_sync(db, "tenant")  # type: ignore[arg-type]
    assert pgqueue.fair_share_sync(db) is None


@pytest.mark.parametrize("others", [10, 20], ids=["fewer executions than the take", "more"])
async def test_with_fair_share_the_relay_takes_reports_round_robin_over_executions(
    pool: Pool, db: Conn, others: int
) -> None:
    """A thousand commands' reports of one execution waiting first, then one
    command's of each of ``others``: a take of 16 in the outbox's order is all
    the first execution's; with fair share over executions, from the take after
    the one that read the setting, each execution's first command comes first,
    its start and final reports together (with more executions than the take
    holds, a share of one report used to be a final report without its start,
    which the take leaves out: the short executions got nothing)."""
    db.execute(
        """
        INSERT INTO noetl.pgqueue_outbox (execution_id, command_id, kind, idempotency_key, body)
        SELECT e, c, k, e || '-' || c || k, '{}'
        FROM (SELECT 1 AS e, g AS c FROM generate_series(1, 1000) AS g
              UNION ALL
              SELECT e, 5000 + e FROM generate_series(2, 1 + %s) AS e) AS r,
             (VALUES ('started'), ('finished')) AS v (k)
        ORDER BY e, c, k DESC
        """,
        (others,),
    )
    outbox = Outbox(pool)

    async def taken() -> list[tuple[int, int, str]]:
        async with outbox.take(16) as batch:  # settles nothing: all stay
            return [(t.entry.execution_id, t.entry.command_id, t.entry.kind) for t in batch.taken]

    def executions(reports: list[tuple[int, int, str]]) -> Counter[int]:
        return Counter(execution for execution, _, _ in reports)

    assert executions(await taken()) == {1: 16}
    pgqueue.set_fair_share_sync(db, "execution")
    assert executions(await taken()) == {1: 16}  # this take reads the setting
    reports = await taken()
    # the first command of each of the oldest eight executions, both reports,
    # each start before its final
    assert executions(reports) == {e: 2 for e in range(1, 9)}, reports
    for execution in range(1, 9):
        assert [k for e, _, k in reports if e == execution] == ["started", "finished"], reports
    pgqueue.set_fair_share_sync(db, "key")  # by key: reports in the outbox's order again
    await taken()
    assert executions(await taken()) == {1: 16}

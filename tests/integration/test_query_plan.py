"""Plan guard: the scan claim reads its partial index, whatever the backlog."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import psycopg
import psycopg_pool
import pytest
from psycopg import sql

from pgqueue import QueueTable
from pgqueue.db.deadlines import DEFAULT_DEADLINES, settings_statement
from pgqueue.db.gateway import Gateway
from tests.helpers import add_rows

Conn = psycopg.Connection[Any]


def plan_of(db: Conn, *, any_kind: bool = False) -> str:
    """The scan claim's plan as the gateway runs it: every value a literal,
    under the claim's own settings (`set_limits.sql`, sorting priced out)."""
    statement = sql.SQL("EXPLAIN (FORMAT JSON) ") + QueueTable().statement(
        "claim_batch",
        worker_id="w",
        limit=10,
        lease=timedelta(seconds=30),
        any_kind=any_kind,
        tool_kinds=() if any_kind else ("noop",),
    )
    with db.transaction(force_rollback=True):
        db.execute(settings_statement(DEFAULT_DEADLINES.claim, "claim", presorted=True))
        found = db.execute(statement).fetchone()
    assert found is not None
    return json.dumps(found[0])


def scans(node: dict[str, Any]) -> set[tuple[str, str]]:
    """Every (node type, relation) in a JSON plan."""
    found = {(node["Node Type"], node.get("Relation Name", ""))}
    for child in node.get("Plans", []):
        found |= scans(child)
    return found


def test_scan_claim_uses_the_pending_partial_index(db: Conn) -> None:
    # A backlog of finished rows and a handful of pending ones.
    add_rows(db, 1, 50000, status="COMPLETED")
    add_rows(db, 50001, 50020)
    db.execute("ANALYZE noetl.command")
    plan = plan_of(db)
    # a worker of named kinds reads each kind's own pending rows
    assert '"Index Name": "command_pgqueue_kind_pending_idx"' in plan
    assert '"Index Name": "command_pgqueue_lease_idx"' in plan
    # no sequential scan of the queue (the flow-control tables are tiny: theirs are fine)
    assert ("Seq Scan", "command") not in scans(json.loads(plan)[0]["Plan"])
    # a worker of every kind, the pending rows in claim order
    plan = plan_of(db, any_kind=True)
    assert '"Index Name": "command_pgqueue_pending_idx"' in plan


def test_a_claim_on_a_table_not_analyzed_yet_probes_the_stray_index(db: Conn) -> None:
    # A new queue's first burst, before autovacuum has analyzed the table: with
    # no statistics the planner expects stray rows everywhere, and scanned the
    # whole table for them in every claim (2.5 ms a claim at 20,000 rows).
    add_rows(db, 1, 20000)
    plan = plan_of(db)
    assert '"Index Name": "command_pgqueue_stray_idx"' in plan


async def claim_plans(pool: psycopg_pool.AsyncConnectionPool[Any], claims: int) -> list[Any]:
    """Claim ``claims`` times on ``pool``; the scan claim's prepared statements after."""
    gateway = Gateway(pool, QueueTable())
    for _ in range(claims):
        claimed = await gateway.claim_batch(
            worker_id="w", limit=100, lease_for=timedelta(seconds=30), tool_kinds=["noop"]
        )
        assert len(claimed) == 100
    return await gateway.execute(
        "SELECT generic_plans, custom_plans FROM pg_prepared_statements"
        " WHERE statement LIKE '-- Scan claim%'"
    )


async def test_a_claim_is_planned_once_per_connection_not_on_every_claim(
    dsn: str, db: Conn
) -> None:
    # With the claim's size a parameter, PostgreSQL rejected the generic plan
    # (it hash-joins the picked rows through the whole table) and planned every
    # execution anew: 0.3 ms a claim. With any parameter at all, a prepared
    # statement gets five custom plans before the generic one, and psycopg runs
    # it unprepared (planned) five times before preparing it. Every value is
    # now a literal and the claim is prepared at once: one plan, then reused.
    add_rows(db, 1, 2000)
    db.execute("ANALYZE noetl.command")
    async with psycopg_pool.AsyncConnectionPool(dsn, min_size=1, max_size=1, open=False) as pool:
        await pool.wait()
        plans = await claim_plans(pool, 6)
    assert [(p["generic_plans"], p["custom_plans"]) for p in plans] == [(6, 0)]


async def test_a_connection_told_never_to_prepare_is_obeyed(dsn: str, db: Conn) -> None:
    # Behind a transaction pooler a prepared statement may land on another
    # server session; its users turn preparing off, and the claims and the
    # completions (both prepared on their first run otherwise) respect that.
    add_rows(db, 1, 1200)
    db.execute("ANALYZE noetl.command")
    async with psycopg_pool.AsyncConnectionPool(
        dsn, min_size=1, max_size=1, open=False, kwargs={"prepare_threshold": None}
    ) as pool:
        await pool.wait()
        gateway = Gateway(pool, QueueTable())
        for _ in range(12):
            claimed = await gateway.claim_batch(
                worker_id="w", limit=100, lease_for=timedelta(seconds=30), tool_kinds=["noop"]
            )
            assert len(claimed) == 100
            written, _ = await gateway.complete(
                (c.execution_id, c.command_id, c.token, "{}") for c in claimed
            )
            assert written == {c.key for c in claimed}
        prepared = await gateway.execute("SELECT name, statement FROM pg_prepared_statements")
    assert prepared == []
    assert db.execute("SELECT status, count(*) FROM noetl.command GROUP BY status").fetchall() == [
        ("COMPLETED", 1200)
    ]


def fenced_plan(db: Conn, name: str, keys: list[tuple[int, int, Any]]) -> str:
    params: dict[str, Any] = {
        "execution_ids": [k[0] for k in keys],
        "command_ids": [k[1] for k in keys],
        "tokens": [k[2] for k in keys],
        "results": ["{}"] * len(keys),
        # a heartbeat's progress: half the commands said something since the last
        "progress": [None if n % 2 else '{"done": 1}' for n in range(len(keys))],
        "lease": timedelta(seconds=30),
        "channel": "pgqueue.noetl.command",
        "delay": timedelta(0),
    }
    statement = sql.SQL("EXPLAIN (FORMAT JSON) ") + QueueTable().statement(name)
    found = db.execute(statement, params).fetchone()
    assert found is not None
    return json.dumps(found[0])


def rescans_the_input(node: dict[str, Any]) -> bool:
    """A nested loop that re-reads the unnest() input for every table row it finds."""
    children = node.get("Plans", [])
    if node["Node Type"] == "Nested Loop" and children[1]["Node Type"] == "Function Scan":
        return True
    return any(rescans_the_input(child) for child in children)


@pytest.mark.parametrize("finished", [0, 50_000])
def test_fenced_batch_writes_are_never_planned_quadratic_or_on_the_lease_index(
    db: Conn, finished: int
) -> None:
    # Statistics taken while nothing was leased (they promise one leased row),
    # then 400 rows leased and a batch of 200 written: every busy burn-down.
    # Planned from those statistics, these writes either walked the lease index
    # or scanned the table and re-read the input for each row found: 20-80 ms
    # for a batch instead of 2-4.
    add_rows(db, 1, finished, status="COMPLETED")
    add_rows(db, 100001, 120000)
    db.execute("ANALYZE noetl.command")
    keys = db.execute(
        """
        UPDATE noetl.command SET status = 'CLAIMED', claim_token = gen_random_uuid(),
                                 lease_expires_at = now() + interval '30 seconds'
        WHERE command_id <= 100400 AND status = 'PENDING'
        RETURNING execution_id, command_id, claim_token
        """
    ).fetchall()[:200]
    for name in ("complete", "heartbeat", "mark_running", "release"):
        plan = fenced_plan(db, name, keys)
        assert "command_pgqueue_lease_idx" not in plan, name
        assert not rescans_the_input(json.loads(plan)[0]["Plan"]), (name, plan)
    # while the rescue still reads it
    assert '"Index Name": "command_pgqueue_lease_idx"' in plan_of(db)

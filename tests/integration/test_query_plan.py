"""Plan guard: the scan claim reads its partial index, whatever the backlog."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import psycopg
from psycopg import sql

from pgqueue import QueueTable

Conn = psycopg.Connection[Any]


def plan_of(db: Conn) -> str:
    statement = sql.SQL("EXPLAIN (FORMAT JSON) ") + QueueTable().statement("claim_batch")
    params = {
        "worker_id": "w",
        "limit": 10,
        "lease": timedelta(seconds=30),
        "any_kind": False,
        "tool_kinds": ["noop"],
    }
    found = db.execute(statement, params).fetchone()
    assert found is not None
    return json.dumps(found[0])


def test_scan_claim_uses_the_pending_partial_index(db: Conn) -> None:
    # A backlog of finished rows and a handful of pending ones.
    db.execute(
        """
        INSERT INTO noetl.command (execution_id, command_id, step_name, tool_kind, status, context,
                                   completed_at)
        SELECT g, g, 's', 'noop', 'COMPLETED', '{}', now() FROM generate_series(1, 50000) g
        """
    )
    db.execute(
        """
        INSERT INTO noetl.command (execution_id, command_id, step_name, tool_kind, context)
        SELECT g, g, 's', 'noop', '{}' FROM generate_series(50001, 50020) g
        """
    )
    db.execute("ANALYZE noetl.command")
    plan = plan_of(db)
    assert '"Index Name": "command_pgqueue_pending_idx"' in plan
    assert '"Index Name": "command_pgqueue_lease_idx"' in plan
    assert '"Node Type": "Seq Scan"' not in plan


def fenced_plan(db: Conn, name: str, keys: list[tuple[int, int, Any]]) -> str:
    params: dict[str, Any] = {
        "execution_ids": [k[0] for k in keys],
        "command_ids": [k[1] for k in keys],
        "tokens": [k[2] for k in keys],
        "results": ["{}"] * len(keys),
        "lease": timedelta(seconds=30),
        "channel": "pgqueue.noetl.command",
    }
    statement = sql.SQL("EXPLAIN (FORMAT JSON) ") + QueueTable().statement(name)
    found = db.execute(statement, params).fetchone()
    assert found is not None
    return json.dumps(found[0])


def test_fenced_batch_writes_go_by_key_not_by_the_lease_index(db: Conn) -> None:
    # Statistics taken while nothing was leased (the planner then expects one
    # leased row), then 200 rows claimed: the state of every busy burn-down.
    # Driven from the lease index, each of these writes read every leased row
    # once per input row (20-35 ms for 100 completions instead of 2).
    db.execute(
        """
        INSERT INTO noetl.command (execution_id, command_id, step_name, tool_kind, status, context,
                                   completed_at)
        SELECT g, g, 's', 'noop', 'COMPLETED', '{}', now() FROM generate_series(1, 50000) g
        """
    )
    db.execute(
        """
        INSERT INTO noetl.command (execution_id, command_id, step_name, tool_kind, context)
        SELECT g, g, 's', 'noop', '{}' FROM generate_series(50001, 50400) g
        """
    )
    db.execute("ANALYZE noetl.command")
    keys = db.execute(
        """
        UPDATE noetl.command SET status = 'CLAIMED', claim_token = gen_random_uuid(),
                                 lease_expires_at = now() + interval '30 seconds'
        WHERE command_id <= 50200 AND status = 'PENDING'
        RETURNING execution_id, command_id, claim_token
        """
    ).fetchall()[:100]
    for name in ("complete", "heartbeat", "mark_running", "release"):
        plan = fenced_plan(db, name, keys)
        assert "command_pgqueue_lease_idx" not in plan, name
        assert '"Node Type": "Seq Scan"' not in plan, name
    # while the rescue still reads it
    assert '"Index Name": "command_pgqueue_lease_idx"' in plan_of(db)

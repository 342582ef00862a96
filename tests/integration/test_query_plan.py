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

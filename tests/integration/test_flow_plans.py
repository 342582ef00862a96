"""Plan guard for mixed fleets: a worker of kinds A and B claims as cheaply with
1,000,000 PENDING commands of kind C as on an empty queue, also when C is
paused, or limited and full. Each claim is run for real (EXPLAIN ANALYZE,
rolled back) under the claim's own settings, and the rows it reads from the
command table are counted."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from psycopg import sql

import pgqueue
from pgqueue.db import statements
from pgqueue.db.deadlines import DEFAULT_DEADLINES, settings_statement

Conn = psycopg.Connection[Any]

BATCH = 100
OTHERS = 1_000_000

pytestmark = pytest.mark.slow

LITERALS = statements.literals(
    any_kind=False,
    lease=timedelta(seconds=30),
    limit=BATCH,
    tool_kinds=("a", "b"),
    worker_id="w",
)


def rows_read(node: dict[str, Any]) -> int:
    """The rows a plan node and the nodes under it read from the command table."""
    read = 0
    if node.get("Relation Name") == "command" and node["Node Type"] != "ModifyTable":
        per_loop = node.get("Actual Rows", 0) + node.get("Rows Removed by Filter", 0)
        read += int(per_loop * node.get("Actual Loops", 1))
    return read + sum(rows_read(child) for child in node.get("Plans", []))


def claim_plan(db: Conn) -> tuple[str, dict[str, Any], int]:
    """The claim a worker of kinds a and b runs next, run for real and rolled
    back: its name, its plan, and how many rows it claimed."""
    with db.transaction(force_rollback=True), db.cursor() as cur:
        cur.execute(settings_statement(DEFAULT_DEADLINES.claim, "claim", presorted=True))
        cur.execute(statements.render("claim_lock", "noetl", "command", LITERALS))
        lock = cur.fetchone()
        assert lock is not None
        name = "claim_limited" if lock[0] == "exclusive" else "claim_batch"
        # rendered as the gateway renders it, for the rates and fair share found
        switches = (("fair", lock[2]),) if lock[2] else ()
        switches += (("rated", True),) if lock[1] else ()
        literals = tuple(sorted((*LITERALS, *switches)))
        statement = sql.SQL("EXPLAIN (ANALYZE, FORMAT JSON) ") + statements.render(
            name, "noetl", "command", literals
        )
        cur.execute(statement)
        found = cur.fetchone()
        assert found is not None
        plan = found[0][0]["Plan"]
        return name, plan, int(plan["Actual Rows"])


def add(db: Conn, first: int, count: int, kinds: str, *, age: str = "0s") -> None:
    """``count`` commands from id ``first``, of the kinds in ``kinds`` in turn,
    due ``age`` ago."""
    db.execute(
        """
        INSERT INTO noetl.command (execution_id, command_id, step_name, tool_kind, status, context,
                                   due_at)
        SELECT g, g, 's', (%(kinds)s::text[])[1 + g %% array_length(%(kinds)s::text[], 1)],
               'PENDING', '{}', now() - %(age)s::interval
        FROM generate_series(%(first)s::bigint, %(first)s::bigint + %(count)s - 1) AS g
        """,
        {"first": first, "count": count, "kinds": list(kinds), "age": age},
    )
    db.execute("ANALYZE noetl.command")


def test_a_claim_reads_only_its_own_kinds_whatever_waits_of_another(db: Conn) -> None:
    add(db, OTHERS + 1, 3 * BATCH, "ab")
    _, plan, _ = claim_plan(db)
    alone = rows_read(plan)  # kinds a and b, nothing else waiting
    pgqueue.set_fair_share_sync(db, "execution")
    _, plan, _ = claim_plan(db)
    alone_fair = rows_read(plan)
    pgqueue.set_fair_share_sync(db, None)
    add(db, 1, OTHERS, "c", age="1h")  # older: first in claim order
    cases = {}
    cases["plain"] = claim_plan(db)
    pgqueue.set_fair_share_sync(db, "execution")
    fair = claim_plan(db)
    pgqueue.set_fair_share_sync(db, None)
    pgqueue.pause_sync(db, "c", reason="c's API is down")
    cases["c paused"] = claim_plan(db)
    pgqueue.resume_sync(db, "c")
    # c limited and full: ten of it running
    db.execute(
        "UPDATE noetl.command SET status = 'RUNNING', lease_expires_at = now() + interval '1h'"
        " WHERE command_id <= 10"
    )
    pgqueue.set_limit_sync(db, tool_kind="c", max_running=10)
    cases["c limited and full"] = claim_plan(db)
    pgqueue.set_limit_sync(db, every_execution=True, max_running=5)
    cases["every execution limited too"] = claim_plan(db)
    # c's rate spent: its window holds its one start
    pgqueue.set_limit_sync(db, tool_kind="c", rate="1/1h")
    db.execute("INSERT INTO noetl.pgqueue_start VALUES ('tool_kind:c', now())")
    cases["c's rate spent"] = claim_plan(db)
    # each kind's scan reads at most a batch, and the update reads what it
    # claims: whatever waits of kind c, the same rows as with none of it
    assert alone <= 3 * BATCH
    for case, (name, plan, claimed) in cases.items():
        read = rows_read(plan)
        assert claimed == BATCH, (case, claimed)
        assert read <= alone + 20, (case, name, read, alone, json.dumps(plan)[:2000])
    # a fair claim reads more (a probe per group, and the first rows of each:
    # here each row its own execution), but no more for c's million
    name, plan, claimed = fair
    assert claimed == BATCH
    assert alone_fair <= alone + 2 * 2 * 2 * BATCH  # two kinds, 2B groups, a probe and a row each
    print(f"rows read: plain {alone}, fair {alone_fair}, fair with c waiting {rows_read(plan)}")
    assert rows_read(plan) <= alone_fair + 20, (rows_read(plan), alone_fair)
    assert cases["plain"][0] == "claim_batch"
    assert cases["c limited and full"][0] == "claim_limited"

"""Plan guard on NoETL's own layout: every statement that joins a batch of keys to
the table reads only the rows it names, at any size and statistics state.

NoETL's ``noetl.command`` is hash-partitioned 16 ways with 12 indexes of its
own (NOETL.md §4). There, with the table small enough to look cheap, the
claim's ``UPDATE … FROM picked`` and the fenced writes were planned as a hash
join over a sequential scan of every partition: at 100,000 pending rows a claim
of 100 took 35-44 ms. Each statement here runs for real (``EXPLAIN ANALYZE`` in
a transaction rolled back) under the settings the gateway gives its role, and
the rows it read from the command table's partitions are counted.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from psycopg import sql

from pgqueue.db import statements
from pgqueue.db.deadlines import DEFAULT_DEADLINES, limit_params, settings_statement
from pgqueue.db.wire import Int8Array, JsonbArray, UuidArray, use_packed_arrays
from tests.conftest import _janitor
from tests.pgserver_support import Server

Conn = psycopg.Connection[Any]

BATCH = 100

#: the states of the table a guard must hold in: (name, rows to add, analyzed when)
STATES = {
    # a new install: statistics say empty, then the first burst arrives
    "empty, analyzed before the burst": (0, "before"),
    "100k pending, analyzed": (100_000, "after"),
    "100k pending, never analyzed": (100_000, "never"),
    "1M finished, analyzed": (1_000_000, "after"),
}


@pytest.fixture(scope="module")
def noetl_db(pg_server: Server, noetl_template_db: str) -> Iterator[str]:
    """One copy of the NoETL template for the module: each state is arranged anew."""
    name = f"pgqueue_plans_{uuid.uuid4().hex[:8]}"
    with _janitor(pg_server, name, noetl_template_db):
        yield pg_server.dsn(name)


def arrange(conn: Conn, rows: int, analyzed: str) -> None:
    conn.execute("TRUNCATE noetl.command")
    if analyzed == "before":
        conn.execute("ANALYZE noetl.command")
    finished = rows >= 1_000_000
    if rows:
        conn.execute(
            """
            INSERT INTO noetl.command (command_id, execution_id, step_name, tool_kind, status,
                                       context, completed_at)
            SELECT g, g %% 5000, 'step', 'python', %s, '{}',
                   CASE WHEN %s THEN now() END
            FROM generate_series(1, %s) AS g
            """,
            ("COMPLETED" if finished else "PENDING", finished, rows),
        )
    if analyzed == "after":
        conn.execute("ANALYZE noetl.command")
    # the claimable burst (the whole backlog, when it is of pending rows)
    conn.execute(
        """
        INSERT INTO noetl.command (command_id, execution_id, step_name, tool_kind, status, context)
        SELECT 10000000 + g, g %% 5000, 'step', 'python', 'PENDING', '{}'
        FROM generate_series(1, %s) AS g
        """,
        (2 * BATCH,),
    )


def outbox_report(key: tuple[Any, ...]) -> str:
    return json.dumps(
        {
            "execution_id": key[0],
            "command_id": key[1],
            "kind": "finished",
            "key": f"k{key[1]}",
            "body": {},
        }
    )


def rows_read(node: dict[str, Any]) -> int:
    """The rows a plan node and the nodes under it read from command partitions."""
    read = 0
    if str(node.get("Relation Name", "")).startswith("command_p"):
        per_loop = node.get("Actual Rows", 0) + node.get("Rows Removed by Filter", 0)
        read += int(per_loop * node.get("Actual Loops", 1))
    return read + sum(rows_read(child) for child in node.get("Plans", []))


def run(conn: Conn, name: str, params: dict[str, Any], literals: statements.Literals = ()) -> Any:
    """``name`` run for real under its role's settings; its plan, rolled back."""
    with conn.transaction(force_rollback=True), conn.cursor() as cur:
        use_packed_arrays(cur)
        scan = name in ("claim_batch", "claim_limited")
        cur.execute(
            # as the gateway sets them: the scan claim reads its index's order
            settings_statement(DEFAULT_DEADLINES.claim, "claim", presorted=scan)
        )
        if scan:  # and takes the claim lock first, in its transaction
            cur.execute(statements.render("claim_lock", "noetl", "command", literals))
        statement = sql.SQL("EXPLAIN (ANALYZE, FORMAT JSON) ") + statements.render(
            name, "noetl", "command", literals
        )
        cur.execute(statement, params)
        found = cur.fetchone()
        assert found is not None
        return found[0][0]["Plan"]


@pytest.mark.parametrize("state", list(STATES))
def test_keyed_statements_read_only_the_rows_they_name(noetl_db: str, state: str) -> None:
    rows, analyzed = STATES[state]
    with psycopg.connect(noetl_db, autocommit=True) as conn:
        arrange(conn, rows, analyzed)
        claim_literals = statements.literals(
            any_kind=False,
            lease=timedelta(seconds=30),
            limit=BATCH,
            tool_kinds=("python",),
            worker_id="w",
        )
        plan = run(conn, "claim_batch", {}, claim_literals)
        read = rows_read(plan)
        # the partial index's first rows of each partition, and the claimed ones
        assert read <= 3 * BATCH + 16 * 4, (state, "claim_batch", read, json.dumps(plan)[:3000])
        # under limits (one on every execution, one on the kind): the same rows,
        # and the held ones the counts read (none here)
        conn.execute(
            "INSERT INTO noetl.pgqueue_limit (scope, key, max_running)"
            " VALUES ('every_execution', '', 5), ('tool_kind', 'python', 1000)"
        )
        plan = run(conn, "claim_limited", {}, claim_literals)
        conn.execute("DELETE FROM noetl.pgqueue_limit")
        read = rows_read(plan)
        assert plan["Actual Rows"] == BATCH, (state, "claim_limited")
        assert read <= 3 * BATCH + 16 * 4, (state, "claim_limited", read, json.dumps(plan)[:3000])
        # fair share over executions: a probe per execution with due rows (up
        # to twice the batch), the first rows of each, and the claim's window
        fair = tuple(sorted((*claim_literals, ("fair", "execution"))))
        plan = run(conn, "claim_batch", {}, fair)
        read = rows_read(plan)
        print(f"{state}: a fair claim read {read} rows")
        assert plan["Actual Rows"] == BATCH, (state, "fair claim_batch")
        assert read <= 3 * BATCH + 16 * 4 + 2 * BATCH * (16 + 2), (state, "fair", read)

        keys = conn.execute(
            """
            UPDATE noetl.command SET status = 'CLAIMED', claim_token = gen_random_uuid(),
                   lease_expires_at = now() + interval '30 seconds'
            WHERE command_id > 10000000 AND command_id <= 10000000 + %s
            RETURNING execution_id, command_id, claim_token
            """,
            (BATCH,),
        ).fetchall()
        packed = {
            "execution_ids": Int8Array(k[0] for k in keys),
            "command_ids": Int8Array(k[1] for k in keys),
            "tokens": UuidArray(k[2] for k in keys),
        }
        reports = JsonbArray(outbox_report(k) for k in keys)
        writes: dict[str, dict[str, Any]] = {
            "complete": {**packed, "results": JsonbArray(["{}"] * len(keys))},
            "complete_reported": {
                **packed,
                "results": JsonbArray(["{}"] * len(keys)),
                "reports": reports,
            },
            "mark_running": packed,
            "mark_running_reported": {**packed, "reports": reports},
            "heartbeat": {
                **packed,
                "lease": timedelta(seconds=30),
                "progress": [None if n % 2 else '{"done": 1}' for n in range(len(keys))],
            },
            "release": {**packed, "channel": "pgqueue.noetl.command", "delay": timedelta(0)},
        }
        for name, params in writes.items():
            plan = run(conn, name, params)
            read = rows_read(plan)
            assert read <= 3 * len(keys), (state, name, read, json.dumps(plan)[:3000])
        one = keys[0]
        plan = run(
            conn,
            "nack",
            {
                "execution_id": one[0],
                "command_id": one[1],
                "token": one[2],
                "delay": timedelta(seconds=1),
                "terminal": False,
                "error": "e",
            },
        )
        assert rows_read(plan) <= 3, (state, "nack", json.dumps(plan)[:3000])
        plan = run(
            conn,
            "nack_reported",
            {
                "execution_id": one[0],
                "command_id": one[1],
                "token": one[2],
                "delay": timedelta(seconds=1),
                "terminal": True,
                "error": "e",
                "reports": JsonbArray([outbox_report(one)]),
            },
        )
        assert rows_read(plan) <= 3, (state, "nack_reported", json.dumps(plan)[:3000])
        # a relay's take, with a backlog of reports waiting
        conn.execute(
            """
            INSERT INTO noetl.pgqueue_outbox (execution_id, command_id, kind, idempotency_key, body)
            SELECT g % 5000, g, 'finished', 'k' || g, '{}' FROM generate_series(1, 5000) AS g
            """
        )
        plan = run(conn, "outbox_take", {"limit": 64})
        assert rows_read(plan) <= 3 * 64, (state, "outbox_take", json.dumps(plan)[:3000])
        # round-robin over executions: the command rows of what it takes, at
        # most (the outbox is read through its own indexes, however long)
        plan = run(conn, "outbox_take_fair", {"limit": 64})
        assert rows_read(plan) <= 3 * 64, (state, "outbox_take_fair", json.dumps(plan)[:3000])
        conn.execute("TRUNCATE noetl.pgqueue_outbox")


def test_the_gateway_guards_exactly_the_keyed_roles() -> None:
    guarded = {
        role: limit_params(DEFAULT_DEADLINES.of(role), role)["scans"]
        for role in ("claim", "completion", "heartbeat", "enqueue", "operator")
    }
    assert guarded == {
        "claim": "off",
        "completion": "off",
        "heartbeat": "off",
        "enqueue": "on",
        "operator": "on",
    }


def rows_read_from(node: dict[str, Any], relation: str) -> int:
    """The rows a plan node and the nodes under it read from ``relation``."""
    read = 0
    if node.get("Relation Name") == relation:
        per_loop = node.get("Actual Rows", 0) + node.get("Rows Removed by Filter", 0)
        read += int(per_loop * node.get("Actual Loops", 1))
    return read + sum(rows_read_from(child, relation) for child in node.get("Plans", []))


def ended_in_the_claims_transaction(conn: Conn, command_ids: list[int]) -> Any:
    """cancel_ended.sql's plan, run for real after a claim's write of
    ``command_ids`` in the same transaction (its lease from now(), its token
    kept as the claim keeps it), all rolled back."""
    lease = timedelta(seconds=30)
    literals = statements.literals(lease=lease)
    with conn.transaction(force_rollback=True), conn.cursor() as cur:
        cur.execute(settings_statement(DEFAULT_DEADLINES.claim, "claim"))
        cur.execute(
            """
            UPDATE noetl.command
            SET status = 'CLAIMED', lease_expires_at = now() + %s,
                claim_token = (SELECT set_config('pgqueue.claim_token',
                                                 gen_random_uuid()::text, true)::uuid)
            WHERE command_id = ANY(%s)
            """,
            (lease, command_ids),
        )
        statement = sql.SQL("EXPLAIN (ANALYZE, FORMAT JSON) ") + statements.render(
            "cancel_ended", "noetl", "command", literals
        )
        found = cur.execute(statement).fetchone()
        assert found is not None
        return found[0][0]["Plan"]


def test_the_ended_execution_look_up_reads_one_event_per_claimed_row(noetl_db: str) -> None:
    """After each claim, in its transaction (cancel_ended.sql), the rows of
    executions with a terminal event end CANCELLED (NoETL's claim rule):
    against an event log of a million events, the look-up reads at most the
    newest terminal event of each claimed row's execution, through NoETL's
    (execution_id, event_type, event_id) index, and finds the claim's rows by
    their lease and token, not by reading the table."""
    from pgqueue.cli.bench import noetl_layout

    with psycopg.connect(noetl_db, autocommit=True) as conn:
        arrange(conn, 0, "after")
        conn.execute("TRUNCATE noetl.event")
        noetl_layout.fill_events(conn, "noetl", 1_000_000)
        # the burst's executions (g % 5000): half of them have ended, each with a
        # long history of events
        conn.execute(
            """
            INSERT INTO noetl.event (execution_id, event_id, event_type)
            SELECT e, 10000000 + e * 10 + i,
                   CASE WHEN i = 9 AND e % 2 = 0 THEN 'playbook.failed' ELSE 'call.done' END
            FROM generate_series(0, 4999) AS e, generate_series(0, 9) AS i
            """
        )
        conn.execute("ANALYZE noetl.event")
        keys = conn.execute(
            "SELECT execution_id, command_id FROM noetl.command"
            " WHERE command_id > 10000000 AND command_id <= 10000000 + %s",
            (BATCH,),
        ).fetchall()
        assert len(keys) == BATCH
        plan = ended_in_the_claims_transaction(conn, [k[1] for k in keys])
        events = rows_read_from(plan, "event")
        assert events <= len(keys), (events, json.dumps(plan)[:3000])
        assert rows_read(plan) <= 3 * len(keys), json.dumps(plan)[:3000]
        # ended: by the events above, and one execution in ten of the filled log
        ended = sum(1 for k in keys if k[0] % 2 == 0 or k[0] % 10 == 9)
        assert plan["Actual Rows"] == ended, json.dumps(plan)[:3000]

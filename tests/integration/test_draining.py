"""When a worker that does not wait (`--until-empty`) is done: `draining.due_soon`."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import psycopg
import psycopg_pool

from pgqueue import enqueue_many_sync
from pgqueue.db.gateway import Gateway
from pgqueue.draining import due_soon

Conn = psycopg.Connection[Any]
Pool = psycopg_pool.AsyncConnectionPool[Any]


def due(db: Conn, seconds_from_now: float, kind: str = "work") -> None:
    (command_id,) = enqueue_many_sync(db, [{"step": "s", "tool_kind": kind, "input": {}}])
    db.execute(
        "UPDATE noetl.command SET due_at = now() + %s * interval '1 second' WHERE command_id = %s",
        (seconds_from_now, int(command_id)),
    )


async def test_a_retry_that_fell_due_a_moment_ago_keeps_the_worker(pool: Pool, db: Conn) -> None:
    look = due_soon(Gateway(pool), timedelta(seconds=5), lambda: ["work"])
    assert await look() is None  # an empty queue: done
    # a retry nacked with a short backoff, due since just after the claim that
    # found nothing: the look must say "now", not "done" (it said done, and the
    # worker left the retry behind, PENDING)
    due(db, -0.2)
    assert await look() == 0.0
    db.execute("TRUNCATE noetl.command")
    due(db, 2.0)
    soon = await look()
    assert soon is not None and 1.0 < soon <= 2.0


async def test_a_row_due_for_long_that_no_claim_takes_does_not_hold_the_worker(
    pool: Pool, db: Conn
) -> None:
    # due for a minute and still PENDING after an empty claim: its kind is
    # paused or its limit full, and waiting on it would never end
    look = due_soon(Gateway(pool), timedelta(seconds=5), lambda: ["work"])
    due(db, -60)
    assert await look() is None
    # of a kind the worker does not serve: not its business either
    due(db, 1.0, kind="other")
    assert await look() is None

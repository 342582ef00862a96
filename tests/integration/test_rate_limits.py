"""Rate limits in the claim: at most N starts of a key in any window of a
period, counted in the database (claim_limited.sql, claim_target.sql,
rate_next.sql). Windows are moved by moving the recorded starts back in time,
never by waiting for the clock."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import psycopg
import psycopg_pool
import pytest

import pgqueue
from pgqueue import QueueTable
from pgqueue.db.gateway import Gateway
from pgqueue.flow import InvalidLimit, Rate
from tests.integration.test_flow_control import add, claim, claimed_at_once, finish

Conn = psycopg.Connection[Any]
Pool = psycopg_pool.AsyncConnectionPool[Any]


def age(db: Conn, by: str = "1 hour") -> None:
    """Every recorded start moved ``by`` into the past: its window has passed."""
    db.execute("UPDATE noetl.pgqueue_start SET started_at = started_at - %s::interval", (by,))


def starts(db: Conn) -> list[tuple[str, int]]:
    rows = db.execute(
        "SELECT key, count(*) FROM noetl.pgqueue_start GROUP BY key ORDER BY key"
    ).fetchall()
    return [(key, int(n)) for key, n in rows]


async def test_a_kind_rate_lets_n_start_per_window_and_says_when_the_next_may(
    pool: Pool, db: Conn
) -> None:
    add(db, 10)
    limit = pgqueue.set_limit_sync(db, tool_kind="noop", rate="3/1h")
    assert limit.rate == Rate(3, timedelta(hours=1)) and limit.max_running is None
    gateway = Gateway(pool, QueueTable())
    assert await claim(gateway, ["noop"]) == [1, 2, 3]
    # finished or not, a start counts for its whole window
    finish(db, [1, 2, 3])
    assert await claim(gateway, ["noop"]) == []
    assert await claim(Gateway(pool, QueueTable()), None) == []  # nor a worker of every kind
    # the claim learnt when the window has room again: an hour from the starts
    assert gateway.mode.next_start is not None
    assert 3500 < gateway.mode.next_start - time.monotonic() <= 3600
    assert starts(db) == [("tool_kind:noop", 3)]
    (listed,) = pgqueue.limits_sync(db)
    assert (listed.started, listed.rate_full, listed.waiting) == (3, True, 7)
    assert listed.next_start is not None
    why = pgqueue.why_sync(db, 4)
    assert why is not None and why.startswith("held back: rate full: tool kind noop, 3 started")
    assert "next start at" in why
    # the window passes: three more, and the old starts are aged out
    age(db)
    assert await claim(gateway, ["noop"]) == [4, 5, 6]
    assert starts(db) == [("tool_kind:noop", 3)]
    # raised at runtime: the next claim takes the new room
    pgqueue.set_limit_sync(db, tool_kind="noop", rate="5/1h")
    assert await claim(gateway, ["noop"]) == [7, 8]
    # cleared: back to the plain claim
    assert pgqueue.clear_limit_sync(db, tool_kind="noop") is not None
    assert await claim(gateway, ["noop"]) == [9, 10]
    assert gateway.mode.next_start is None


async def test_rates_by_execution_and_by_key_and_a_concurrency_limit_all_hold(
    pool: Pool, db: Conn
) -> None:
    add(db, 6, execution=7, first=1)
    add(db, 6, execution=8, first=11)
    add(db, 4, key="tenant-a", first=21)
    pgqueue.set_limit_sync(db, every_execution=True, rate="2/1h")
    pgqueue.set_limit_sync(db, execution_id=8, rate="1/1h")  # its own, before the default
    pgqueue.set_limit_sync(db, key="tenant-a", rate="2/1h", max_running=1)
    gateway = Gateway(pool, QueueTable())
    assert sorted(await claim(gateway, ["noop"])) == [1, 2, 11, 21]
    finish(db, [21])
    # tenant-a: one more start left in its window, and its one place is free
    assert await claim(gateway, ["noop"]) == [22]
    finish(db, [1, 2, 11, 22])
    assert await claim(gateway, ["noop"]) == []
    why = pgqueue.why_sync(db, 12)
    assert why is not None and "rate full: execution 8, 1 started" in why
    age(db)
    assert sorted(await claim(gateway, ["noop"])) == [3, 4, 12, 23]


async def test_a_rescue_is_a_start_a_rate_counts(pool: Pool, db: Conn) -> None:
    add(db, 5)
    pgqueue.set_limit_sync(db, tool_kind="noop", rate="2/1h")
    gateway = Gateway(pool, QueueTable())
    assert await claim(gateway, ["noop"]) == [1, 2]
    db.execute(
        "UPDATE noetl.command SET lease_expires_at = now() - interval '1 second'"
        " WHERE command_id = 1"
    )
    # the window is full: the lost holder's row waits for it, as pending rows do
    assert await claim(gateway, ["noop"]) == []
    age(db)
    # then its rescue takes one of the two starts, before any pending row
    assert await claim(gateway, ["noop"]) == [1, 3]
    assert starts(db) == [("tool_kind:noop", 2)]


async def test_a_targeted_claim_obeys_a_rate_and_records_its_start(pool: Pool, db: Conn) -> None:
    add(db, 3)
    pgqueue.set_limit_sync(db, tool_kind="noop", rate="1/1h")
    gateway = Gateway(pool, QueueTable())
    taken = await gateway.claim_target(
        worker_id="w",
        command_id=2,
        execution_id=None,
        lease_for=timedelta(minutes=1),
        tool_kinds=["noop"],
    )
    assert taken.row is not None
    assert starts(db) == [("tool_kind:noop", 1)]
    held = await gateway.claim_target(
        worker_id="w",
        command_id=3,
        execution_id=None,
        lease_for=timedelta(minutes=1),
        tool_kinds=["noop"],
    )
    assert held.row is None and held.reason is not None
    assert held.reason.startswith("rate full: tool kind noop, 1 started")
    assert await claim(gateway, ["noop"]) == []


async def test_concurrent_claims_never_start_more_than_a_rate(
    pool: Pool, dsn: str, db: Conn
) -> None:
    """Eight claimers on eight connections, three claims each at once, five
    windows over: each window exactly the rate starts."""
    add(db, 400)
    pgqueue.set_limit_sync(db, tool_kind="noop", rate="7/1h")
    async for taken in claimed_at_once(dsn):
        # seven claimed, and seven starts recorded in the window, no more
        claimed = db.execute("SELECT count(*) FROM noetl.command WHERE status = 'CLAIMED'")
        assert (len(taken), claimed.fetchone(), starts(db)) == (7, (7,), [("tool_kind:noop", 7)])
        finish(db, taken)
        age(db)


def test_a_limit_lever_can_be_cleared_alone(db: Conn) -> None:
    pgqueue.set_limit_sync(db, tool_kind="http", max_running=4, rate="50/1s")
    # a lever not given keeps its value
    both = pgqueue.set_limit_sync(db, tool_kind="http", rate="60/1s")
    assert (both.max_running, str(both.rate)) == (4, "60/1s")
    was = pgqueue.clear_limit_sync(db, tool_kind="http", lever="rate")
    assert was is not None and str(was.rate) == "60/1s"
    (left,) = pgqueue.limits_sync(db)
    assert (left.max_running, left.rate) == (4, None)
    assert pgqueue.clear_limit_sync(db, tool_kind="http", lever="rate") is None  # not set
    # its last lever: the limit goes
    assert pgqueue.clear_limit_sync(db, tool_kind="http", lever="max_running") is not None
    assert pgqueue.limits_sync(db) == []


@pytest.mark.parametrize(
    ("rate", "message"),
    [
        ("10", "rate: '10' is not N/PERIOD"),
        ("0/1s", "rate: the count must be a positive integer"),
        ("10/0s", "rate: the period must be a positive duration"),
        ("10/1", "rate: '1' has no unit"),
        ("10/soon", "rate: 'soon' is not a duration"),
    ],
)
def test_a_bad_rate_is_refused_naming_the_field(db: Conn, rate: str, message: str) -> None:
    with pytest.raises(InvalidLimit, match=message):
        pgqueue.set_limit_sync(db, tool_kind="http", rate=rate)
    with pytest.raises(InvalidLimit, match="sets max_running, rate, or both"):
        pgqueue.set_limit_sync(db, tool_kind="http")
    assert pgqueue.limits_sync(db) == []


async def test_a_rate_set_after_a_limit_is_counted_from_the_next_claim(
    pool: Pool, db: Conn
) -> None:
    """A limited claim rendered for no rate takes nothing once a rate exists
    (it could not count it): the gateway claims again at once, counting it."""
    add(db, 10)
    pgqueue.set_limit_sync(db, tool_kind="noop", max_running=100)
    gateway = Gateway(pool, QueueTable())
    assert await claim(gateway, ["noop"], limit=2) == [1, 2]
    assert (gateway.mode.limited, gateway.mode.rated) == (True, False)
    pgqueue.set_limit_sync(db, tool_kind="noop", rate="3/1h")
    assert await claim(gateway, ["noop"]) == [3, 4, 5]  # the rate counted in this very call
    assert gateway.mode.rated
    assert starts(db) == [("tool_kind:noop", 3)]
    assert await claim(gateway, ["noop"]) == []

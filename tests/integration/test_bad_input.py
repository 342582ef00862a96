"""Garbage in: stored and round-tripped exactly, or refused whole. Never half-written."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import psycopg
import psycopg_pool
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from pgqueue import Claimed, Failed, PgCommandSource, Worker, enqueue_sync
from tests.acceptance.cli import pgqueue
from tests.helpers import row, status_counts

Conn = psycopg.Connection[Any]

garbage_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**5000), max_value=10**5000)
    | st.floats()  # NaN and infinities included
    | st.text()  # lone surrogates and NUL included
    | st.binary(max_size=4)
    | st.sampled_from(
        [math.nan, math.inf, -math.inf, "\x00", "\ud800", 2**63, -(2**63) - 1, {1, 2}]
    )
)
garbage = st.recursive(
    garbage_scalars,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.text(max_size=4) | st.integers(), children, max_size=3)
    ),
    max_leaves=12,
)
ids = st.none() | st.integers(min_value=-(2**64), max_value=2**64)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(payload=garbage, render_context=garbage, execution_id=ids, command_id=ids)
def test_garbage_is_round_tripped_or_refused_whole(
    dsn: str, db: Conn, payload: Any, render_context: Any, execution_id: Any, command_id: Any
) -> None:
    db.execute("DELETE FROM noetl.command")
    try:
        stored = enqueue_sync(
            db,
            step="s",
            tool_kind="k",
            input=payload,
            render_context=render_context,
            execution_id=execution_id,
            command_id=command_id,
        )
    except ValidationError:
        assert status_counts(db) == {}  # nothing written
        return
    found = row(db, stored)
    assert found["context"] == (
        {**payload, "render_context": render_context} if render_context else payload
    )


def test_a_ten_megabyte_input_round_trips(dsn: str, db: Conn) -> None:
    big = {"blob": "x" * (10 * 1024 * 1024), "n": [1.5, 2**62, "é😀"]}
    command_id = enqueue_sync(db, step="s", tool_kind="k", input=big)
    assert row(db, command_id)["context"] == big


def test_deep_nesting_is_stored_or_refused(dsn: str, db: Conn) -> None:
    shallow: Any = 1
    for _ in range(100):
        shallow = {"a": shallow}
    command_id = enqueue_sync(db, step="s", tool_kind="k", input={"n": shallow})
    assert row(db, command_id)["context"] == {"n": shallow}
    deep: Any = 1
    for _ in range(5000):
        deep = [deep]
    with pytest.raises(ValidationError):
        enqueue_sync(db, step="s", tool_kind="k", input={"n": deep})
    assert status_counts(db) == {"PENDING": 1}


MALFORMED = [
    ("UPDATE noetl.command SET tool_kind = NULL WHERE step_name = %s", "no tool kind"),
    ("UPDATE noetl.command SET context = '\"a string\"' WHERE step_name = %s", "not a JSON object"),
    ("UPDATE noetl.command SET context = '[1, 2]' WHERE step_name = %s", "an array"),
    (
        "UPDATE noetl.command SET context = '{\"render_context\": [1]}' WHERE step_name = %s",
        "render_context",
    ),
    ("UPDATE noetl.command SET status = 'BOGUS' WHERE step_name = %s", "unknown status 'BOGUS'"),
    ("UPDATE noetl.command SET status = NULL WHERE step_name = %s", "unknown status None"),
    ("UPDATE noetl.command SET attempts = -3 WHERE step_name = %s", "negative"),
]


async def test_malformed_rows_fail_and_park_without_blocking_healthy_ones(
    pool: psycopg_pool.AsyncConnectionPool[Any], db: Conn
) -> None:
    for index, (statement, _) in enumerate(MALFORMED):
        enqueue_sync(db, step=f"bad{index}", tool_kind="noop", input={}, priority=10)
        db.execute(statement, (f"bad{index}",))
    healthy = [enqueue_sync(db, step="good", tool_kind="noop", input={}) for _ in range(10)]
    worker = Worker(PgCommandSource(pool, worker_id="w", wait=False), pool=pool)
    worker.register("noop", lambda cmd, ctx: None)
    stats = await worker.run()
    assert stats["claim_failed"] == len(MALFORMED)
    assert stats["completed"] == len(healthy)
    for index, (_, reason) in enumerate(MALFORMED):
        parked = db.execute(
            "SELECT status, error FROM noetl.command WHERE step_name = %s", (f"bad{index}",)
        ).fetchone()
        assert parked is not None and parked[0] == "FAILED", (index, parked)
        assert reason in parked[1]
    assert status_counts(db) == {"COMPLETED": 10, "FAILED": len(MALFORMED)}


async def test_a_targeted_claim_parks_a_row_with_an_unknown_status(
    pool: psycopg_pool.AsyncConnectionPool[Any], db: Conn
) -> None:
    command_id = enqueue_sync(db, step="s", tool_kind="noop", input={})
    db.execute("UPDATE noetl.command SET status = 'WEIRD'")
    async with PgCommandSource(pool, worker_id="w", wait=False) as source:
        pulled = await source.claim(command_id)
        assert isinstance(pulled.outcome, Failed) and "WEIRD" in pulled.outcome.reason
        await source.nack(pulled.ack)
        assert not isinstance((await source.claim(command_id)).outcome, Claimed)
    assert (row(db, command_id)["status"], row(db, command_id)["error"]) == (
        "FAILED",
        "unknown status 'WEIRD'",
    )


@pytest.fixture
def db_tx(dsn: str) -> Iterator[Conn]:
    """A connection in a transaction, as a caller's own would be."""
    with psycopg.connect(dsn) as conn:
        yield conn


@pytest.mark.parametrize("delay", [10**10, 1e15, timedelta(days=999_999_999)])
def test_a_delay_out_of_range_is_a_validation_error_and_the_transaction_lives_on(
    db_tx: Conn, delay: Any
) -> None:
    # It used to reach the server ("interval out of range"), which aborted the
    # caller's whole transaction.
    with pytest.raises(ValidationError) as info:
        enqueue_sync(db_tx, step="s", tool_kind="k", input={}, delay=delay)
    assert "delay" in str(info.value)
    assert db_tx.execute("SELECT 1").fetchone() == (1,)  # the transaction is still usable
    db_tx.rollback()


@pytest.mark.parametrize("delay", ["1000000000d", "99999999999999999999s"])
def test_a_cli_delay_out_of_range_is_one_line(delay: str) -> None:
    done = pgqueue("enqueue", "--step", "s", "--tool-kind", "k", "--delay", delay)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "--delay" in done.stderr and "too long" in done.stderr

"""Unique commands on a real table, plain and NoETL's hash-partitioned layout:
a key held by a waiting or running command makes another enqueue of it write
nothing and return the holder's id."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from pydantic import ValidationError

import pgqueue
from pgqueue.enqueue import Enqueued
from tests.acceptance.cli import pgqueue as pgqueue_cli
from tests.helpers import wait_until

Conn = psycopg.Connection[Any]


def add(conn: Conn, key: str | None, **more: Any) -> Enqueued:
    made = pgqueue.enqueue_sync(conn, step="s", tool_kind="noop", input={}, unique_key=key, **more)
    assert isinstance(made, Enqueued)
    return made


def count(db: Conn) -> int:
    return int(db.execute("SELECT count(*) FROM noetl.command").fetchone()[0])  # type: ignore[index]


def test_a_held_key_writes_nothing_and_returns_the_holders_id(db: Conn) -> None:
    first = add(db, "report-42")
    again = add(db, "report-42")
    assert (first.duplicate, again.duplicate, again) == (False, True, first)
    assert count(db) == 1
    # another key, and no key at all, are written
    assert not add(db, "report-43").duplicate
    pgqueue.enqueue_sync(db, step="s", tool_kind="noop", input={})
    assert count(db) == 3


@pytest.mark.parametrize("status", ["PENDING", "CLAIMED", "RUNNING"])
def test_the_key_is_held_while_waiting_or_running_and_free_once_finished(
    db: Conn, status: str
) -> None:
    first = add(db, "k")
    db.execute("UPDATE noetl.command SET status = %s WHERE command_id = %s", (status, int(first)))
    assert add(db, "k").duplicate
    db.execute("UPDATE noetl.command SET status = 'COMPLETED' WHERE command_id = %s", (int(first),))
    second = add(db, "k")
    assert not second.duplicate and second != first and count(db) == 2


def test_unique_while_names_the_states_that_hold_the_key(db: Conn) -> None:
    first = add(db, "once-a-day", unique_while=["pending", "running", "completed"])
    db.execute("UPDATE noetl.command SET status = 'COMPLETED' WHERE command_id = %s", (int(first),))
    assert add(db, "once-a-day", unique_while=["PENDING", "RUNNING", "COMPLETED"]).duplicate
    db.execute("UPDATE noetl.command SET status = 'FAILED' WHERE command_id = %s", (int(first),))
    assert not add(db, "once-a-day").duplicate


def test_a_bulk_writes_each_key_once_and_marks_the_rest(db: Conn) -> None:
    held = add(db, "b")
    ids = pgqueue.enqueue_many_sync(
        db,
        [
            {"step": "s", "tool_kind": "noop", "input": {"n": n}, "unique_key": key}
            for n, key in enumerate(["a", "b", "a", "c"])
        ],
    )
    assert [getattr(i, "duplicate", None) for i in ids] == [False, True, True, False]
    assert ids[1] == held and ids[2] == ids[0]
    assert count(db) == 3


def test_the_same_transaction_enqueueing_a_key_twice_gets_one(dsn: str) -> None:
    with psycopg.connect(dsn) as conn:
        first, again = add(conn, "k"), add(conn, "k")
        conn.commit()
        assert again.duplicate and again == first
        assert count(conn) == 1


def enqueue_behind(dsn: str, db: Conn, holder: Conn, end: Callable[[], None]) -> Enqueued:
    """Enqueue key ``k`` from another connection while ``holder``'s transaction,
    which enqueued it, is open; once it waits for that transaction, ``end`` it
    (commit or roll back); what the waiting enqueue returned."""
    got: list[Enqueued] = []

    def second() -> None:
        with psycopg.connect(dsn, autocommit=True) as conn:
            got.append(add(conn, "k"))

    waiter = threading.Thread(target=second)
    waiter.start()
    wait_until(
        lambda: (
            db.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            ).fetchone()
            == (1,)
        ),
        what="the second enqueue to wait for the first",
    )
    end()
    waiter.join(30)
    (enqueued,) = got
    return enqueued


def test_a_holder_rolled_back_leaves_the_key_to_the_enqueue_that_waited(dsn: str, db: Conn) -> None:
    """Oban #1087: the producer that held the key rolled back, and nothing was
    written at all. Here the second enqueue waits for the first's transaction
    and, when it rolls back, writes its own command."""
    with psycopg.connect(dsn) as holder:
        add(holder, "k")  # not committed
        second = enqueue_behind(dsn, db, holder, holder.rollback)
    assert not second.duplicate and count(db) == 1


def test_a_holder_committed_while_the_next_enqueue_waited_keeps_its_key(dsn: str, db: Conn) -> None:
    """The second enqueue's snapshot predates the holder's commit, so it
    cannot see the holder's row: it must still count it as holding the key."""
    with psycopg.connect(dsn) as holder:
        first = add(holder, "k")
        second = enqueue_behind(dsn, db, holder, holder.commit)
    assert second.duplicate and second == first and count(db) == 1


def test_a_key_is_unique_across_executions_on_noetls_partitioned_table(noetl_dsn: str) -> None:
    with psycopg.connect(noetl_dsn, autocommit=True) as conn:
        first = add(conn, "tenant-9:sync", execution_id=101)
        again = add(conn, "tenant-9:sync", execution_id=202)
        assert again.duplicate and again == first
        assert count(conn) == 1


def test_unique_while_without_a_key_or_with_no_state_is_refused(db: Conn) -> None:
    with pytest.raises(ValidationError, match="unique_while: only with a unique_key"):
        pgqueue.enqueue_sync(db, step="s", tool_kind="noop", input={}, unique_while=["PENDING"])
    with pytest.raises(ValidationError, match="'LATER' is not a state"):
        add(db, "k", unique_while=["later"])
    with pytest.raises(ValidationError, match="unique_key"):
        add(db, "")
    assert count(db) == 0


def test_a_bulk_with_unique_while_and_no_key_names_the_command(db: Conn) -> None:
    bulk = [
        {"step": "s", "tool_kind": "noop", "input": {}},
        {"step": "s", "tool_kind": "noop", "input": {}, "unique_while": ["PENDING"]},
    ]
    with pytest.raises(ValidationError, match=r"1\.unique_while\n.*only with a unique_key"):
        pgqueue.enqueue_many_sync(db, bulk)
    assert count(db) == 0


def test_the_cli_prints_the_holders_id_for_a_duplicate(dsn: str, db: Conn) -> None:
    args = ("enqueue", "--dsn", dsn, "--step", "s", "--tool-kind", "noop", "--unique-key", "k")
    first, again = pgqueue_cli(*args), pgqueue_cli(*args)
    assert first.returncode == again.returncode == 0
    assert again.stdout.strip() == f"{first.stdout.strip()} (a duplicate: its key is held)"
    assert count(db) == 1

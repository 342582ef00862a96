"""Producers in real OS processes, enqueueing the same commands at once."""

from __future__ import annotations

import multiprocessing
import random
from collections.abc import Callable
from multiprocessing.synchronize import Barrier
from typing import Any

import psycopg

from pgqueue import enqueue_many_sync
from tests.helpers import status_counts

Conn = psycopg.Connection[Any]

#: enough that the four bulks overlap in the server (1,000 did not, every run)
COMMANDS = 5000


def produce(dsn: str, seed: int, barrier: Barrier, errors: Any) -> None:
    commands = [
        {"execution_id": 7, "command_id": i, "step": "s", "tool_kind": "noop", "input": {"i": i}}
        for i in range(1, COMMANDS + 1)
    ]
    random.Random(seed).shuffle(commands)
    try:
        with psycopg.connect(dsn) as conn:
            barrier.wait(30)
            ids = enqueue_many_sync(conn, commands)
            conn.commit()
        assert ids == [str(c["command_id"]) for c in commands]  # in the caller's order
    except Exception as exc:
        errors.put(f"{type(exc).__name__}: {exc}")


def run_producers(target: Callable[[str, int, Barrier, Any], None], dsn: str) -> None:
    """Four producer processes running ``target(dsn, seed, barrier, errors)``,
    released at once by the barrier; each ends cleanly, none reports an error."""
    ctx = multiprocessing.get_context("spawn")
    barrier, errors = ctx.Barrier(4), ctx.Queue()
    producers = [ctx.Process(target=target, args=(dsn, n, barrier, errors)) for n in range(4)]
    for p in producers:
        p.start()
    for p in producers:
        p.join(120)
    failures = []
    while not errors.empty():
        failures.append(errors.get())
    assert failures == []
    assert [p.exitcode for p in producers] == [0, 0, 0, 0]


def test_concurrent_idempotent_bulks_in_different_orders_do_not_deadlock(
    dsn: str, db: Conn
) -> None:
    # Four producers, the same 5,000 commands each, each in its own order, all
    # released at once: rows inserted in input order locked keys in different
    # orders, and three of the four died with 40P01.
    run_producers(produce, dsn)
    assert status_counts(db) == {"PENDING": COMMANDS}


#: unique keys each producer enqueues, in its own order, several rounds
KEYS = 500


def produce_unique(dsn: str, seed: int, barrier: Barrier, errors: Any) -> None:
    rng = random.Random(seed)
    try:
        with psycopg.connect(dsn) as conn:
            barrier.wait(30)
            for round_ in range(4):
                commands = [
                    {"step": "s", "tool_kind": "noop", "input": {"by": seed}, "unique_key": f"k{k}"}
                    for k in rng.sample(range(KEYS), KEYS)
                ]
                # bulks (one rolled back) and single enqueues, each committed:
                # a transaction of several enqueues of keys in another order
                # than a concurrent one's can deadlock, as any two
                # transactions taking row locks in different orders can
                if round_ % 2:
                    for command in commands[:50]:
                        enqueue_many_sync(conn, [command])
                        conn.commit()
                else:
                    enqueue_many_sync(conn, commands)
                    if round_ == 2:
                        conn.rollback()
                    else:
                        conn.commit()
    except Exception as exc:
        errors.put(f"{type(exc).__name__}: {exc}")


def test_producers_enqueueing_the_same_unique_keys_at_once_leave_one_row_a_key(
    dsn: str, db: Conn
) -> None:
    """Four producer processes enqueue the same 500 unique keys, each in its
    own order, in bulks (each statement locks its keys in key order) and one
    by one, committing and rolling back: no deadlock, no error, and exactly
    one command a key."""
    run_producers(produce_unique, dsn)
    keys = db.execute(
        "SELECT count(*), count(DISTINCT u.unique_key) FROM noetl.pgqueue_unique AS u"
        " JOIN noetl.command AS c USING (execution_id, command_id)"
    ).fetchone()
    assert keys == (KEYS, KEYS)
    assert status_counts(db) == {"PENDING": KEYS}

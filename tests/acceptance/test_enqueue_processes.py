"""Producers in real OS processes, enqueueing the same commands at once."""

from __future__ import annotations

import multiprocessing
import random
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


def test_concurrent_idempotent_bulks_in_different_orders_do_not_deadlock(
    dsn: str, db: Conn
) -> None:
    # Four producers, the same 5,000 commands each, each in its own order, all
    # released at once: rows inserted in input order locked keys in different
    # orders, and three of the four died with 40P01.
    ctx = multiprocessing.get_context("spawn")
    barrier, errors = ctx.Barrier(4), ctx.Queue()
    producers = [ctx.Process(target=produce, args=(dsn, n, barrier, errors)) for n in range(4)]
    for p in producers:
        p.start()
    for p in producers:
        p.join(120)
    failures = []
    while not errors.empty():
        failures.append(errors.get())
    assert failures == []
    assert [p.exitcode for p in producers] == [0, 0, 0, 0]
    assert status_counts(db) == {"PENDING": COMMANDS}

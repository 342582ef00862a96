"""Schedules with real worker processes: every worker runs the scheduler, one
is SIGKILLed and another restarted while a schedule ticks every second; the
table holds one command per tick, with no gap."""

from __future__ import annotations

import signal
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

import psycopg
import pytest

import pgqueue
from tests.acceptance.cli import Child
from tests.acceptance.test_worker_processes import worker
from tests.helpers import wait_until

Conn = psycopg.Connection[Any]

pytestmark = pytest.mark.slow


def ticks(db: Conn) -> list[str]:
    return [
        tick
        for (tick,) in db.execute(
            "SELECT meta ->> 'tick' FROM noetl.command WHERE meta ->> 'schedule' = 'every-second'"
            " ORDER BY 1"
        ).fetchall()
    ]


def test_three_workers_enqueue_each_tick_once_through_a_kill_and_a_restart(
    dsn: str, db: Conn
) -> None:
    # a kind no worker serves: the ticks' commands stay, one row a tick
    pgqueue.add_schedule_sync(
        db,
        "every-second",
        every=timedelta(seconds=1),
        command={"step": "tick", "tool_kind": "nobody_serves", "input": {}},
    )
    first = len(ticks(db))
    workers: dict[str, Child] = {n: worker(dsn, n) for n in ("w1", "w2", "w3")}
    try:
        wait_until(lambda: len(ticks(db)) >= first + 4, timeout=60, what="four ticks")
        workers["w1"].send_signal(signal.SIGKILL)
        workers["w1"].communicate(timeout=30)
        wait_until(lambda: len(ticks(db)) >= first + 8, timeout=60, what="four more ticks")
        workers["w2"].send_signal(signal.SIGTERM)
        workers["w2"].communicate(timeout=60)
        workers["w2"] = worker(dsn, "w2-again")
        wait_until(lambda: len(ticks(db)) >= first + 15, timeout=60, what="fifteen ticks")
    finally:
        for proc in workers.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.communicate(timeout=60)
    found = ticks(db)
    assert len(found) == len(set(found)), "a tick was enqueued twice"
    # every second from the first tick to the last: no gap
    times = [datetime.fromisoformat(t) for t in found]
    assert [(b - a).total_seconds() for a, b in pairwise(times)] == [1.0] * (len(times) - 1)
    assert len(found) >= 15

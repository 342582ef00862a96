"""Flow control with real worker processes and real faults; the invariants
are read from the tables: how many runs of one key overlapped (each run's
start and end recorded by its tool), what was claimed after a pause."""

from __future__ import annotations

import json
import os
import random
import signal
from typing import Any

import psycopg
import pytest

import pgqueue
from pgqueue import enqueue_many_sync
from tests.acceptance.cli import Child
from tests.acceptance.cli import pgqueue as pgqueue_cli
from tests.acceptance.test_worker_processes import worker as worker_process
from tests.fixtures.flow_tools import MOST_OVERLAPPING, MOST_STARTS_IN_A_WINDOW, RUNS_DDL
from tests.helpers import status_counts, wait_until

Conn = psycopg.Connection[Any]

pytestmark = pytest.mark.slow


def worker(dsn: str, worker_id: str, *extra: str) -> Child:
    child: Child = worker_process(dsn, worker_id, *extra, tools="tests.fixtures.flow_tools")
    return child


def drain(dsn: str, db: Conn, total: int, name: str, *extra: str) -> None:
    """Two workers (``name``1 and 2) until all ``total`` commands completed; stopped."""
    with worker(dsn, f"{name}1", *extra) as w1, worker(dsn, f"{name}2", *extra) as w2:
        wait_until(
            lambda: status_counts(db) == {"COMPLETED": total},
            timeout=240,
            what="every command to complete",
        )
        for proc in (w1, w2):
            proc.send_signal(signal.SIGTERM)
        for proc in (w1, w2):
            proc.communicate(timeout=60)


def started(db: Conn) -> int:
    return int(db.execute("SELECT count(*) FROM runs WHERE event = 'start'").fetchone()[0])  # type: ignore[index]


def test_limits_hold_across_four_workers_through_kills_and_cut_connections(
    dsn: str, db: Conn
) -> None:
    """4 worker processes of 50 slots; a key limited to 3, another to 1, and a
    default of 2 for every execution. Workers are SIGKILLed (their leases run
    out and are rescued) and backends terminated while it drains: the most
    overlapping runs of each key never pass its limit, and all complete."""
    db.execute(RUNS_DDL)
    db.execute("CREATE TABLE killed (worker_id text PRIMARY KEY, at timestamptz NOT NULL)")
    commands: list[dict[str, Any]] = []
    for i in range(40):
        commands.append({"concurrency_key": "three", "input": {"seconds": 0.15}})
        commands.append({"concurrency_key": "one", "input": {"seconds": 0.05}} if i < 20 else {})
    for execution in range(1, 6):  # five executions of 12 commands each
        commands += [{"execution_id": execution, "input": {"seconds": 0.1}}] * 12
    enqueue_many_sync(
        db,
        [{"step": "s", "tool_kind": "timed", "input": {}, **c} for c in commands if c],
    )
    total = sum(1 for c in commands if c)
    pgqueue.set_limit_sync(db, key="three", max_running=3)
    pgqueue.set_limit_sync(db, key="one", max_running=1)
    pgqueue.set_limit_sync(db, every_execution=True, max_running=2)

    lease = ("--lease", "3s", "--concurrency", "50")
    workers = {f"w{n}": worker(dsn, f"w{n}", *lease) for n in range(4)}
    rng = random.Random(7)
    try:
        for round_ in range(2):
            # a while into the drain, SIGKILL one worker and start another
            wait_until(lambda r=round_: started(db) >= 20 * (r + 1), what="runs to start")
            victim = rng.choice(sorted(workers))
            os.kill(workers[victim].pid, signal.SIGKILL)
            workers[victim].wait(timeout=30)
            db.execute("INSERT INTO killed VALUES (%s, clock_timestamp())", (victim,))
            workers.pop(victim).__exit__(None, None, None)
            fresh = f"w{4 + round_}"
            workers[fresh] = worker(dsn, fresh, *lease)
            # and cut every worker's connections once
            db.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        wait_until(
            lambda: status_counts(db) == {"COMPLETED": total},
            timeout=240,
            what="every command to complete",
        )
    finally:
        for proc in workers.values():
            proc.send_signal(signal.SIGTERM)
        for proc in workers.values():
            proc.communicate(timeout=60)
    # every run ended, or its worker was killed: none is left open in the measure
    assert db.execute(
        "SELECT count(*) FROM runs AS s WHERE s.event = 'start'"
        " AND NOT EXISTS (SELECT 1 FROM runs AS e WHERE e.event = 'end'"
        "   AND (e.command_id, e.worker_id, e.attempts) = (s.command_id, s.worker_id, s.attempts))"
        " AND NOT EXISTS (SELECT 1 FROM killed AS k WHERE k.worker_id = s.worker_id)"
    ).fetchone() == (0,)
    most = dict(db.execute(MOST_OVERLAPPING).fetchall())
    assert most["key three"] == 3, most  # full, never over
    assert most["key one"] == 1, most
    executions = {k: v for k, v in most.items() if k.startswith("execution ")}
    assert max(executions[f"execution {e}"] for e in range(1, 6)) == 2, most
    assert all(v <= 2 for v in executions.values()), most
    assert db.execute("SELECT count(*) FROM killed").fetchone() == (2,)


def test_a_pause_stops_claims_at_once_running_ones_finish_and_resume_drains(
    dsn: str, db: Conn
) -> None:
    db.execute(RUNS_DDL)
    # long enough that the pause lands mid-drain on a busy machine
    enqueue_many_sync(db, [{"step": "s", "tool_kind": "timed", "input": {"seconds": 0.1}}] * 500)
    with (
        worker(dsn, "p1", "--concurrency", "20") as w1,
        worker(dsn, "p2", "--concurrency", "20") as w2,
    ):
        wait_until(lambda: started(db) >= 100, what="the drain to be under way")
        pgqueue.pause_sync(db, "timed", reason="incident 7")  # autocommit: committed here
        (after,) = db.execute("SELECT clock_timestamp()").fetchone()  # type: ignore[misc]
        # what was claimed or running finishes; nothing more is claimed
        wait_until(
            lambda: set(status_counts(db)) <= {"COMPLETED", "PENDING"},
            timeout=60,
            what="the claimed and running commands to finish",
        )
        (claimed_after,) = db.execute(
            "SELECT count(*) FROM noetl.command WHERE claimed_at > %s", (after,)
        ).fetchone()  # type: ignore[misc]
        assert claimed_after == 0
        left = status_counts(db)["PENDING"]
        assert left > 0
        paused = pgqueue_cli("pause", "timed", "--dsn", dsn, "--reason", "incident 7")
        assert paused.returncode == 0 and "paused timed" in paused.stdout, paused.stderr
        shown = pgqueue_cli("status", "--dsn", dsn)
        assert "incident 7" in shown.stdout and "paused tool kinds" in shown.stdout
        (waiting,) = db.execute(
            "SELECT command_id::text FROM noetl.command WHERE status = 'PENDING' LIMIT 1"
        ).fetchone()  # type: ignore[misc]
        one = pgqueue_cli("show", waiting, "--dsn", dsn, "--json")
        assert json.loads(one.stdout)["waiting"] == (
            "held back: its tool kind timed is paused: incident 7"
        )
        resumed = pgqueue_cli("resume", "timed", "--dsn", dsn)
        assert resumed.returncode == 0 and "resumed timed" in resumed.stdout
        wait_until(
            lambda: status_counts(db) == {"COMPLETED": 500},
            timeout=120,
            what="the rest to drain after the resume",
        )
        for proc in (w1, w2):
            proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=60)
    # each command ran once
    assert db.execute(
        "SELECT count(DISTINCT command_id), count(*) FROM runs WHERE event = 'start'"
    ).fetchone() == (500, 500)


def test_a_rate_holds_across_two_workers_and_keeps_pace_without_polling(dsn: str, db: Conn) -> None:
    """``10/1s`` on a kind, 200 commands, 2 workers of 20 slots that poll only
    every 5 s: no window of one second holds more than 10 starts, and the
    drain keeps pace with the rate (about 20 s; polling would take 100 s),
    as the workers sleep until the window opens."""
    db.execute(RUNS_DDL)
    rated = pgqueue_cli("limit", "set", "--tool-kind", "timed", "--rate", "10/1s", "--dsn", dsn)
    assert rated.returncode == 0, rated.stderr
    assert "limit set: tool kind timed, at most 10 starts in any 1s" in rated.stdout
    enqueue_many_sync(db, [{"step": "s", "tool_kind": "timed", "input": {"seconds": 0.01}}] * 200)
    drain(dsn, db, 200, "r", "--concurrency", "20", "--poll-interval", "5s")
    by_claim, by_tool = db.execute(MOST_STARTS_IN_A_WINDOW, {"window": "1 second"}).fetchone()  # type: ignore[misc]
    (span,) = db.execute(  # type: ignore[misc]
        "SELECT extract(epoch FROM max(claimed_at) - min(claimed_at))::float8 FROM runs"
        " WHERE event = 'start'"
    ).fetchone()
    print(
        f"most starts in 1 s: {by_claim} by claim, {by_tool} by the tool's clock; "
        f"200 starts over {span:.1f} s"
    )
    assert started(db) == 200
    assert by_claim == 10  # the rate used, and never passed
    listed = pgqueue_cli("limit", "list", "--dsn", dsn)
    assert "tool kind timed" in listed.stdout and "10/1s" in listed.stdout, listed.stdout
    # about 20 s (the first 10 at once, the last 10 nineteen windows later);
    # woken only by the poll it would be about 100 s
    assert 19 <= span < 40


def test_fair_share_lets_short_executions_finish_beside_a_long_one(dsn: str, db: Conn) -> None:
    """One execution of 2,000 due commands enqueued first, then 20 of 3 each;
    2 workers of 20 slots, fair share over executions: each short execution's
    last command completes within the first 10 % of the burn-down (by the
    completions before it). Without fair share each finishes at its end."""
    db.execute(RUNS_DDL)
    command = {"step": "s", "tool_kind": "timed", "input": {"seconds": 0.005}}
    enqueue_many_sync(db, [{**command, "execution_id": 1}] * 2000)
    for execution in range(2, 22):
        enqueue_many_sync(db, [{**command, "execution_id": execution}] * 3)
    fair = pgqueue_cli("fair-share", "execution", "--dsn", dsn)
    assert fair.returncode == 0 and "fair share: over executions" in fair.stdout, fair.stderr
    drain(dsn, db, 2060, "f", "--concurrency", "20")
    # each short execution's last completion, as the share of all completions
    # up to it (a batch's completions share a time: all of them count)
    finished = dict(
        db.execute(
            """
            SELECT c.execution_id,
                   (SELECT count(*) FROM noetl.command AS o
                    WHERE o.completed_at <= max(c.completed_at))::float8 / 2060
            FROM noetl.command AS c
            WHERE c.execution_id <> 1
            GROUP BY c.execution_id
            """
        ).fetchall()
    )
    print(f"short executions finished by: {max(finished.values()):.1%} of the burn-down (worst)")
    assert len(finished) == 20
    assert max(finished.values()) <= 0.10, finished

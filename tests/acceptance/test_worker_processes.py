"""`pgqueue worker` as a real process: SIGKILL mid-tool, SIGTERM drains, a second
signal stops at once. Invariants are read from the table."""

from __future__ import annotations

import os
import signal
from typing import Any

import psycopg
import pytest

from pgqueue import enqueue_many_sync
from tests.acceptance.cli import pgqueue as pgqueue_cli
from tests.acceptance.cli import spawn
from tests.fixtures.tools import EXECUTIONS_DDL
from tests.helpers import row, status_counts, wait_until

Conn = psycopg.Connection[Any]

pytestmark = pytest.mark.slow


def worker(dsn: str, worker_id: str, *extra: str, tools: str = "tests.fixtures.tools") -> Any:
    return spawn(
        "worker",
        "--dsn",
        dsn,
        "--tools",
        tools,
        "--worker-id",
        worker_id,
        "--poll-interval",
        "0.2s",
        *extra,
    )


def executions(db: Conn, event: str | None = None) -> list[tuple[Any, ...]]:
    return db.execute(
        "SELECT command_id::text, worker_id, attempts, event FROM executions"
        " WHERE %(event)s::text IS NULL OR event = %(event)s ORDER BY at",
        {"event": event},
    ).fetchall()


def test_sigkill_mid_tool_reruns_after_the_lease_and_finishes_once(dsn: str, db: Conn) -> None:
    db.execute(EXECUTIONS_DDL)
    (command_id,) = enqueue_many_sync(db, [{"step": "s", "tool_kind": "hang_first", "input": {}}])
    with worker(dsn, "first", "--lease", "1s") as first:
        wait_until(lambda: executions(db, "start"), what="the first run to start")
        # the RUNNING mark is batched: it lands within RUNNING_LINGER of the start
        wait_until(lambda: row(db, command_id)["status"] == "RUNNING", timeout=10, what="RUNNING")
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=30)
    with worker(dsn, "second") as second:
        wait_until(
            lambda: row(db, command_id)["status"] == "COMPLETED",
            timeout=60,
            what="the second worker to finish it",
        )
        second.send_signal(signal.SIGTERM)
        second.communicate(timeout=60)
        assert second.returncode == 0
    after = row(db, command_id)
    assert (after["worker_id"], after["attempts"], after["result"]) == (
        "second",
        1,
        {"attempts_seen": 1},
    )
    assert executions(db) == [
        (command_id, "first", 0, "start"),  # killed mid-tool
        (command_id, "second", 1, "start"),  # rescued after the lease, attempt counted
        (command_id, "second", 1, "end"),  # finished exactly once
    ]
    # the killed attempt is in the history: its worker, its start, its end
    (lost,) = after["attempt_log"]
    assert (lost["attempt"], lost["worker"]) == (1, "first")
    assert lost["started_at"] is not None and lost["error"].startswith("lease expired")
    shown = pgqueue_cli("show", "--dsn", dsn, command_id)
    assert "attempts" in shown.stdout and "first" in shown.stdout


def test_sigterm_drains_in_flight_commands_and_exits_zero(dsn: str, db: Conn) -> None:
    db.execute(EXECUTIONS_DDL)
    enqueue_many_sync(db, [{"step": "s", "tool_kind": "record", "input": {"seconds": 1.5}}] * 8)
    with worker(dsn, "drainer", "--concurrency", "4") as proc:
        wait_until(lambda: len(executions(db, "start")) == 4, what="4 commands running")
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "SIGTERM" in err
    # the four in flight finished; the rest were never started and wait for the next worker
    assert len(executions(db, "end")) == 4
    assert status_counts(db) == {"COMPLETED": 4, "PENDING": 4}
    assert db.execute(
        "SELECT count(*) FROM noetl.command WHERE claim_token IS NOT NULL OR attempts <> 0"
    ).fetchone() == (0,)


def test_past_the_grace_sigterm_releases_commands_for_others_at_once(dsn: str, db: Conn) -> None:
    db.execute(EXECUTIONS_DDL)
    enqueue_many_sync(db, [{"step": "s", "tool_kind": "hang_first", "input": {}}] * 2)
    with worker(dsn, "slow", "--concurrency", "2", "--grace", "0.5s", "--lease", "1h") as proc:
        wait_until(lambda: len(executions(db, "start")) == 2, what="2 commands running")
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    # released: claimable now despite the one-hour lease, and no attempt spent
    assert (
        db.execute(
            "SELECT status, attempts, claim_token IS NULL, due_at <= now() FROM noetl.command"
        ).fetchall()
        == [("PENDING", 0, True, True)] * 2
    )


def test_a_second_signal_stops_at_once_without_losing_a_row(dsn: str, db: Conn) -> None:
    db.execute(EXECUTIONS_DDL)
    enqueue_many_sync(db, [{"step": "s", "tool_kind": "hang_first", "input": {}}] * 3)
    with worker(dsn, "impatient", "--concurrency", "3", "--grace", "1h") as proc:
        wait_until(lambda: len(executions(db, "start")) == 3, what="3 commands running")
        proc.send_signal(signal.SIGTERM)
        wait_until(lambda: proc.poll() is None, what="still draining")
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert status_counts(db) == {"PENDING": 3}
    assert db.execute(
        "SELECT count(*) FROM noetl.command WHERE claim_token IS NULL"
    ).fetchone() == (3,)


def test_rows_claimed_ahead_keep_their_leases_and_never_run_twice(dsn: str, db: Conn) -> None:
    # Two healthy workers, each claiming 8 ahead for 2 slots of 0.4 s tools:
    # rows waited 1.6 s in memory on a 1 s lease, unheartbeated, and the other
    # worker rescued them while they were still to run here (4 ran 2-3 times).
    db.execute(EXECUTIONS_DDL)
    ids = enqueue_many_sync(
        db, [{"step": "s", "tool_kind": "record", "input": {"seconds": 0.4}}] * 24
    )
    options = ("--concurrency", "2", "--prefetch", "8", "--lease", "1s")
    with worker(dsn, "one", *options) as one, worker(dsn, "two", *options) as two:
        wait_until(
            lambda: status_counts(db) == {"COMPLETED": 24}, timeout=60, what="all 24 completed"
        )
        for proc in (one, two):
            proc.send_signal(signal.SIGTERM)
        for proc in (one, two):
            proc.communicate(timeout=30)
    runs = db.execute(
        "SELECT command_id::text, count(*) FROM executions WHERE event = 'start' GROUP BY 1"
    ).fetchall()
    assert sorted(runs) == sorted((i, 1) for i in ids)  # each ran exactly once
    assert db.execute("SELECT max(attempts) FROM noetl.command").fetchone() == (0,)

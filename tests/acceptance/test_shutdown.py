"""Shutdown keeps its word: ``--grace`` holds for a claim that lands after the
signal and for tools that run in threads, and a second signal exits 130 at once.
Real worker processes; the invariants are read from the table."""

from __future__ import annotations

import signal
import threading
import time
from typing import Any

import psycopg
import pytest

from pgqueue import enqueue_sync
from tests.acceptance.cli import Child, spawn
from tests.fixtures.tools import EXECUTIONS_DDL
from tests.helpers import row, wait_until

Conn = psycopg.Connection[Any]

pytestmark = pytest.mark.slow


class Worker:
    """A ``pgqueue worker`` process whose stderr is read as it comes."""

    def __init__(self, dsn: str, *extra: str) -> None:
        self.proc: Child = spawn(
            "worker",
            "--dsn",
            dsn,
            "--tools",
            "tests.fixtures.tools",
            "--poll-interval",
            "0.2s",
            *extra,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)

    def said(self, text: str) -> bool:
        return any(text in line for line in self.lines)

    def exited_within(self, seconds: float) -> int:
        """Its exit code; fails if it is still running after ``seconds``."""
        began = time.monotonic()
        wait_until(lambda: self.proc.poll() is not None, timeout=seconds, what="the exit")
        self._reader.join(5)
        assert time.monotonic() - began <= seconds
        return self.proc.returncode

    def __enter__(self) -> Worker:
        self.proc.__enter__()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.proc.__exit__(*exc_info)


def waiting_on_the_table_lock(db: Conn) -> bool:
    found = db.execute(
        "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'noetl.command'::regclass"
    ).fetchone()
    return bool(found and found[0])


def test_a_claim_that_lands_after_sigterm_is_given_back_not_run(dsn: str, db: Conn) -> None:
    db.execute(EXECUTIONS_DDL)
    with Worker(dsn, "--grace", "1s") as worker:
        warm = enqueue_sync(db, step="s", tool_kind="record", input={})
        wait_until(lambda: row(db, warm)["status"] == "COMPLETED", what="the worker to run")
        # Hold the table so the worker's next claim waits in the server, with
        # a 20-second command that the claim will find once the lock goes.
        with psycopg.connect(dsn) as blocker:
            blocker.execute("LOCK TABLE noetl.command IN ACCESS EXCLUSIVE MODE")
            slow = enqueue_sync(blocker, step="s", tool_kind="record", input={"seconds": 20})
            wait_until(lambda: waiting_on_the_table_lock(db), what="a claim waiting on the lock")
            worker.proc.send_signal(signal.SIGTERM)
            wait_until(lambda: worker.said("SIGTERM"), what="the worker to hear SIGTERM")
            blocker.commit()  # the claim lands now, after the stop
        assert worker.exited_within(10) == 0, "".join(worker.lines)
    after = row(db, slow)
    # given back untouched (it had not begun): claimable at once, no attempt spent
    assert (after["status"], after["attempts"], after["claim_token"]) == ("PENDING", 0, None)
    assert db.execute(
        "SELECT count(*) FROM executions WHERE command_id = %s", (int(slow),)
    ).fetchone() == (0,)


def test_a_tool_in_a_thread_does_not_hold_the_exit_nor_run_twice(dsn: str, db: Conn) -> None:
    command_id = enqueue_sync(db, step="s", tool_kind="nap", input={"seconds": 20})
    with Worker(dsn, "--grace", "1s", "--lease", "1h") as worker:
        wait_until(lambda: row(db, command_id)["status"] == "RUNNING", what="the nap to start")
        worker.proc.send_signal(signal.SIGTERM)
        # it used to exit only when the thread returned, 14 s later
        assert worker.exited_within(8) == 0, "".join(worker.lines)
    assert worker.said("cannot be stopped")
    after = row(db, command_id)
    # given back without an attempt spent, but not due before the process was gone
    assert (after["status"], after["attempts"], after["claim_token"]) == ("PENDING", 0, None)
    assert after["due_at"] > after["updated_at"]


def test_a_second_signal_exits_130_even_with_a_tool_in_a_thread(dsn: str, db: Conn) -> None:
    command_id = enqueue_sync(db, step="s", tool_kind="nap", input={"seconds": 30})
    with Worker(dsn, "--grace", "1h") as worker:
        wait_until(lambda: row(db, command_id)["status"] == "RUNNING", what="the nap to start")
        worker.proc.send_signal(signal.SIGTERM)
        wait_until(lambda: worker.said("SIGTERM"), what="the first signal heard")
        worker.proc.send_signal(signal.SIGINT)
        assert worker.exited_within(8) == 130, "".join(worker.lines)
    assert row(db, command_id)["status"] == "PENDING"

"""Real OS processes: exactly-once claiming, and SIGKILL between next() and ack."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from typing import Any

import psycopg
import psycopg_pool
import pytest

from pgqueue import Claimed, PgCommandSource, enqueue_many_sync
from tests.conftest import ROOT
from tests.helpers import row, status_counts, wait_until

Conn = psycopg.Connection[Any]


def claimer(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.acceptance.claimer", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
def test_four_processes_claim_2000_commands_exactly_once(dsn: str, db: Conn) -> None:
    db.execute("CREATE TABLE acks (command_id bigint NOT NULL, worker text NOT NULL)")
    ids = enqueue_many_sync(
        db, [{"step": "s", "tool_kind": "noop", "input": {"i": i}} for i in range(2000)]
    )
    workers = [claimer("drain", dsn, f"proc-{n}", "4") for n in range(4)]
    for proc in workers:
        _, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err
    # every command acked by exactly one worker ...
    assert db.execute("SELECT count(*), count(DISTINCT command_id) FROM acks").fetchone() == (
        2000,
        2000,
    )
    assert {r[0] for r in db.execute("SELECT command_id::text FROM acks")} == set(ids)
    # ... the table agrees, with no row left behind ...
    assert status_counts(db) == {"COMPLETED": 2000}
    assert db.execute(
        "SELECT count(*) FROM noetl.command c JOIN acks a USING (command_id)"
        " WHERE c.worker_id <> a.worker"
    ).fetchone() == (0,)
    # ... and the work was really shared
    assert db.execute("SELECT count(DISTINCT worker) FROM acks").fetchone()[0] >= 2


@pytest.mark.slow
async def test_sigkill_between_next_and_ack_loses_nothing(dsn: str, db: Conn) -> None:
    (command_id,) = enqueue_many_sync(db, [{"step": "s", "tool_kind": "noop", "input": {}}])
    with claimer("hold", dsn, "doomed", "1") as proc:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == command_id
        assert row(db, command_id)["worker_id"] == "doomed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL

    async with psycopg_pool.AsyncConnectionPool(dsn, open=False) as pool:
        await pool.wait()
        async with PgCommandSource(pool, worker_id="survivor", wait=False) as source:
            # claimable again once the dead process's lease ends
            def rescued() -> bool:
                return (
                    row(db, command_id)["lease_expires_at"]
                    < db.execute("SELECT now()").fetchone()[0]
                )

            wait_until(rescued, timeout=30, what="the dead claim's lease to end")
            pulled = await source.next()
            assert pulled is not None and isinstance(pulled.outcome, Claimed)
            assert pulled.outcome.command.command_id == command_id
            assert pulled.outcome.command.attempts == 1  # the lost attempt counts
            await source.ack(pulled.ack)
            await source.complete(pulled.ack, {})
    after = row(db, command_id)
    assert (after["status"], after["worker_id"], after["attempts"]) == ("COMPLETED", "survivor", 1)

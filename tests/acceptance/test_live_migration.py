"""``pgqueue migrate`` on a live table, behind an open transaction: each DDL
step waits at most its lock timeout and tries again, indexes are built
without blocking writes, so the live workload (producers, workers) never
queues behind the migration for longer than that."""

from __future__ import annotations

import threading
import time
from typing import Any

import psycopg
import pytest

from pgqueue import enqueue_sync, migrate
from tests.acceptance.cli import spawn
from tests.helpers import status_counts, wait_until
from tests.noetl_schema import create_noetl_table

Conn = psycopg.Connection[Any]

pytestmark = pytest.mark.slow

#: what a producer tolerates: twice the migration's lock timeout
PRODUCER_TIMEOUT = "4s"


class Producer(threading.Thread):
    """Writes one row every 20 ms on its own connection, each statement under
    `PRODUCER_TIMEOUT`; keeps every error."""

    def __init__(self, dsn: str, write: str) -> None:
        super().__init__(daemon=True)
        self.dsn, self.write = dsn, write
        self.done = 0
        self.errors: list[str] = []
        self.stop = threading.Event()

    def run(self) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute(f"SET statement_timeout = '{PRODUCER_TIMEOUT}'")
            while not self.stop.is_set():
                try:
                    if self.write == "enqueue":
                        enqueue_sync(conn, step="s", tool_kind="noop", input={})
                    else:  # NoETL's control plane, before pgqueue's columns exist
                        conn.execute(
                            "INSERT INTO noetl.command (execution_id, step_name, tool_kind,"
                            " context) VALUES (7, 's', 'noop', '{}')"
                        )
                    self.done += 1
                except psycopg.Error as exc:
                    self.errors.append(f"{type(exc).__name__}: {exc}")
                time.sleep(0.02)


@pytest.mark.parametrize("start", ["0005", "0001"])
def test_migrate_behind_an_open_transaction_never_queues_the_workload(
    empty_dsn: str, start: str
) -> None:
    with psycopg.connect(empty_dsn, autocommit=True) as db:
        if start == "0001":
            create_noetl_table(db, rows=2000)  # NoETL's own, partitioned, in use
        migrate.upgrade(empty_dsn, start)
        producer = Producer(empty_dsn, "enqueue" if start == "0005" else "insert")
        worker = (
            spawn("worker", "--dsn", empty_dsn, "--poll-interval", "0.2s", "--retention", "off")
            if start == "0005"
            else None
        )
        producer.start()
        try:
            with psycopg.connect(empty_dsn) as holder:
                # a long transaction that has read the table: any DDL on it waits
                holder.execute("SELECT count(*) FROM noetl.command")
                migrating = spawn("migrate", "--dsn", empty_dsn)
                before = producer.done
                # the workload goes on while the migration waits and retries
                wait_until(
                    lambda: producer.done >= before + 150, timeout=60, what="150 more writes"
                )
                assert migrating.poll() is None  # still waiting for its lock
                holder.rollback()
            _, err = migrating.communicate(timeout=120)
            assert migrating.returncode == 0, err
        finally:
            producer.stop.set()
            producer.join(30)
        assert producer.errors == []  # nothing waited past the producer's timeout
        assert migrate.current(empty_dsn) == migrate.head()
        if worker is not None:
            with worker:
                wait_until(
                    lambda: set(status_counts(db)) == {"COMPLETED"}, timeout=60, what="drained"
                )
                worker.terminate()
                worker.communicate(timeout=30)
            assert status_counts(db) == {"COMPLETED": producer.done}

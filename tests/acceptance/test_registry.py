"""The worker registry: work nobody will run is said out loud, and a worker id is
one process's at a time."""

from __future__ import annotations

import json
import signal
from typing import Any

import psycopg

from pgqueue import enqueue_many_sync
from tests.acceptance.cli import pgqueue, spawn
from tests.helpers import wait_until


def registered(db: psycopg.Connection[Any], worker_id: str) -> bool:
    return bool(
        db.execute(
            "SELECT 1 FROM noetl.pgqueue_worker WHERE worker_id = %s", (worker_id,)
        ).fetchone()
    )


def test_a_live_worker_is_listed_and_its_id_is_refused_to_a_second_process(
    dsn: str, db: psycopg.Connection[Any]
) -> None:
    with spawn("worker", "--dsn", dsn, "--worker-id", "w-one", "-c", "3") as first:
        wait_until(lambda: registered(db, "w-one"), what="the first worker's registry row")
        second = pgqueue("worker", "--dsn", dsn, "--worker-id", "w-one", "--until-empty")
        assert second.returncode == 2, second.stderr
        line = second.stderr.strip()
        assert "worker id 'w-one' is in use by a live worker" in line and "\n" not in line
        shown = json.loads(pgqueue("status", "--dsn", dsn, "--json").stdout)
        (worker,) = shown["workers"]
        assert worker["worker_id"] == "w-one"
        assert worker["concurrency"] == 3
        assert worker["tool_kinds"] == ["noop", "sleep"]
        assert worker["pid"] == first.pid
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=60)
    assert not registered(db, "w-one")  # removed on shutdown
    again = pgqueue("worker", "--dsn", dsn, "--worker-id", "w-one", "--until-empty")
    assert again.returncode == 0, again.stderr


def test_a_stale_row_of_a_dead_worker_gives_its_id_up(
    dsn: str, db: psycopg.Connection[Any]
) -> None:
    db.execute(
        "INSERT INTO noetl.pgqueue_worker (worker_id, host, pid, tool_kinds, concurrency,"
        " heartbeat_at) VALUES ('w-dead', 'gone', 1, '{noop}', 1, now() - interval '5 minutes')"
    )
    done = pgqueue("worker", "--dsn", dsn, "--worker-id", "w-dead", "--until-empty")
    assert done.returncode == 0, done.stderr


def test_work_no_live_worker_serves_is_said_by_status_enqueue_and_the_worker(
    dsn: str, db: psycopg.Connection[Any]
) -> None:
    queued = pgqueue("enqueue", "--dsn", dsn, "--step", "s", "--tool-kind", "typo")
    assert queued.returncode == 0
    assert "no live worker serves tool kind 'typo'" in queued.stderr
    enqueue_many_sync(db, [{"step": "s", "tool_kind": "noop", "input": {}}])
    shown = pgqueue("status", "--dsn", dsn)
    assert "pending work no live worker serves" in shown.stdout
    status = json.loads(pgqueue("status", "--dsn", dsn, "--json").stdout)
    assert {(u["tool_kind"], u["pending"]) for u in status["unserved"]} == {
        ("typo", 1),
        ("noop", 1),
    }
    drained = pgqueue("worker", "--dsn", dsn, "--until-empty")
    assert drained.returncode == 0
    assert "left PENDING, served by no live worker: 1 of kind 'typo'" in drained.stderr
    # a worker that serves it, registered: enqueue is quiet
    with spawn("worker", "--dsn", dsn, "--worker-id", "w-all") as worker:
        wait_until(lambda: registered(db, "w-all"), what="the worker's registry row")
        quiet = pgqueue("enqueue", "--dsn", dsn, "--step", "s", "--tool-kind", "noop")
        assert "warning" not in quiet.stderr, quiet.stderr
        worker.send_signal(signal.SIGTERM)
        worker.communicate(timeout=60)


def test_tool_kinds_without_a_tool_are_refused(dsn: str) -> None:
    done = pgqueue("worker", "--dsn", dsn, "--tool-kinds", "noop", "typo", "--until-empty")
    assert done.returncode == 2
    assert "--tool-kinds typo: no tool for it" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1

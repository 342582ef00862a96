"""What an operator sees of a running worker: metrics scraped over HTTP, the
probes, and one structured log line per command lifecycle event."""

from __future__ import annotations

import json
import re
import signal
import socket
import time
import urllib.error
import urllib.request
from typing import Any

import psycopg
from prometheus_client.parser import text_string_to_metric_families
from psycopg.conninfo import make_conninfo

import pgqueue
from pgqueue import enqueue_many_sync
from tests.acceptance.cli import spawn
from tests.helpers import status_counts, wait_until


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def value_now(port: int, name: str, statement: str) -> float:
    """One statement's sample of a metric, scraped now."""
    found = samples(get(port, "/metrics")[1])
    return found.get((name, (("statement", statement),)), 0.0)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_metrics_probes_and_lifecycle_lines_tell_what_the_worker_did(
    dsn: str, db: psycopg.Connection[Any]
) -> None:
    enqueue_many_sync(db, [{"step": "s", "tool_kind": "noop", "input": {}}] * 5)
    enqueue_many_sync(db, [{"step": "s", "tool_kind": "fail", "input": {}, "max_attempts": 1}] * 2)
    # a command that runs long enough to be heartbeaten (the lease is 3 s: a beat a second)
    enqueue_many_sync(db, [{"step": "s", "tool_kind": "sleep", "input": {"seconds": 2.5}}])
    # waiting work no worker runs, for the queue's gauges
    enqueue_many_sync(db, [{"step": "s", "tool_kind": "later", "input": {}}] * 3)
    port = free_port()
    with spawn(
        "worker",
        "--dsn",
        dsn,
        "--tools",
        "tests.fixtures.noetl_tools",
        "--tool-kinds",
        "noop",
        "fail",
        "sleep",
        "--lease",
        "3s",
        "--metrics-port",
        str(port),
        "-v",
        "--log-format",
        "json",
    ) as worker:
        wait_until(
            lambda: status_counts(db) == {"COMPLETED": 6, "FAILED": 2, "PENDING": 3},
            what="the work done",
        )
        status, text = get(port, "/metrics")
        assert status == 200
        found = samples(text)

        def value(name: str, **labels: str) -> float:
            return found.get((name, tuple(sorted(labels.items()))), 0.0)

        assert value("pgqueue_commands_total", tool_kind="noop", outcome="completed") == 5
        assert value("pgqueue_commands_total", tool_kind="noop", outcome="claimed") == 5
        assert value("pgqueue_commands_total", tool_kind="fail", outcome="failed") == 2
        assert value("pgqueue_command_duration_seconds_count", tool_kind="noop") == 5
        assert value("pgqueue_command_duration_seconds_count", tool_kind="fail") == 2
        assert value("pgqueue_statement_duration_seconds_count", statement="claim_batch") >= 1
        assert value("pgqueue_statement_duration_seconds_count", statement="complete") >= 1
        # heartbeats run on a connection of their own: their statements are measured too
        wait_until(
            lambda: value_now(port, "pgqueue_statement_duration_seconds_count", "heartbeat") >= 1,
            what="a heartbeat measured",
        )
        assert value("pgqueue_slots_busy") == 0
        assert value("pgqueue_claim_outage") == 0
        assert value("pgqueue_queue_pending", tool_kind="later") == 3
        assert value("pgqueue_queue_due", tool_kind="later") == 3
        assert value("pgqueue_queue_failed") == 2
        assert value("pgqueue_queue_oldest_due_seconds") > 0
        # flow control: a paused kind, and a limit that is full
        pgqueue.pause_sync(db, "later", reason="INC-1")
        pgqueue.set_limit_sync(db, tool_kind="later", max_running=1)
        db.execute(
            "INSERT INTO noetl.command (execution_id, command_id, step_name, tool_kind, status,"
            " context, lease_expires_at) VALUES (1, 1, 's', 'later', 'RUNNING', '{}',"
            " now() + interval '1 hour')"
        )
        flow = samples(get(port, "/metrics")[1])
        assert flow[("pgqueue_paused", (("reason", "INC-1"), ("tool_kind", "later")))] == 1
        assert flow[("pgqueue_held_back", (("reason", "pause"),))] == 3
        assert flow[("pgqueue_limit_max_running", (("limit", "tool kind later"),))] == 1
        assert flow[("pgqueue_limit_running", (("limit", "tool kind later"),))] == 1
        assert flow[("pgqueue_held_back", (("reason", "limit"),))] == 3
        pgqueue.resume_sync(db, "later")
        flow = samples(get(port, "/metrics")[1])
        assert ("pgqueue_paused", (("reason", "INC-1"), ("tool_kind", "later"))) not in flow
        assert flow[("pgqueue_held_back", (("reason", "pause"),))] == 0
        # the concurrency lever off, a rate on whose window is spent: held by the rate
        pgqueue.set_limit_sync(db, tool_kind="later", rate="2/1h")
        pgqueue.clear_limit_sync(db, tool_kind="later", lever="max_running")
        db.execute(
            "INSERT INTO noetl.pgqueue_start VALUES ('tool_kind:later', now()),"
            " ('tool_kind:later', now())"
        )
        flow = samples(get(port, "/metrics")[1])
        limit = (("limit", "tool kind later"),)
        assert flow[("pgqueue_limit_rate_max_starts", limit)] == 2
        assert flow[("pgqueue_limit_rate_period_seconds", limit)] == 3600
        assert flow[("pgqueue_limit_rate_started", limit)] == 2
        assert ("pgqueue_limit_max_running", limit) not in flow  # that lever is gone
        assert flow[("pgqueue_held_back", (("reason", "rate"),))] == 3
        assert flow[("pgqueue_held_back", (("reason", "limit"),))] == 0
        assert get(port, "/healthz") == (200, "live\n")
        assert get(port, "/readyz") == (200, "ready\n")

        # the table out of reach: the worker cannot claim, and says so to a probe
        db.execute("ALTER TABLE noetl.command RENAME TO command_away")
        wait_until(lambda: get(port, "/readyz")[0] == 503, what="not ready while it cannot claim")
        assert "cannot claim" in get(port, "/readyz")[1]
        assert get(port, "/healthz")[0] == 200  # alive all the same
        db.execute("ALTER TABLE noetl.command_away RENAME TO command")
        wait_until(lambda: get(port, "/readyz")[0] == 200, what="ready again")
        worker.send_signal(signal.SIGTERM)
        _, err = worker.communicate(timeout=60)
    # every line JSON, the closing summary among them; one type per field
    lines = [json.loads(line) for line in err.splitlines()]
    assert lines and all({"time", "level", "logger", "message"} <= set(x) for x in lines)
    assert next(x for x in lines if x.get("action") == "summary")["counts"]["completed"] == 6
    types: dict[str, set[str]] = {}
    for line in lines:
        for key, field in line.items():
            types.setdefault(key, set()).add(type(field).__name__)
    assert types["command_id"] == {"int"}, types
    assert types["execution_id"] == {"int"}, types
    # -v adds pgqueue's own lines only: none of psycopg's pool or httpx
    assert {x["logger"] for x in lines} <= {
        "pgqueue",
        *(x["logger"] for x in lines if x["logger"].startswith("pgqueue.")),
    }, {x["logger"] for x in lines}
    completed = [
        x
        for x in lines
        if x.get("action") == "completed"
        and x["logger"] == "pgqueue.commands"
        and x["tool_kind"] == "noop"
    ]
    assert len(completed) == 5
    for line in completed:
        assert {"command_id", "execution_id", "tool_kind", "attempt", "duration"} <= set(line)
        assert line["attempt"] == 1 and line["tool_kind"] == "noop"
    claimed = [x for x in lines if x.get("action") == "claimed"]
    assert len(claimed) == 8
    failed = [x for x in lines if x.get("action") == "failed"]
    assert len(failed) == 2 and all(x["tool_kind"] == "fail" for x in failed)


def test_an_outage_is_one_line_with_the_pools_own_warnings_folded_in(
    dsn: str, db: psycopg.Connection[Any]
) -> None:
    name = db.info.dbname
    with spawn("worker", "--dsn", dsn, "--poll-interval", "0.2s") as worker:
        wait_until(
            lambda: db.execute("SELECT count(*) FROM noetl.pgqueue_worker").fetchone() == (1,),
            what="the worker to start",
        )
        # the database refuses every connection, and the worker's are cut
        admin = psycopg.connect(make_conninfo(dsn, dbname="postgres"), autocommit=True)
        with admin:
            admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
            try:
                # the outage itself, 14 s: longer than a claim's client deadline
                # (12 s), so a claim waiting for a connection fails too, whatever
                # the timing; each round cuts again whatever got in just before
                # the door closed (a connection then being opened)
                for _ in range(28):
                    admin.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                        " WHERE datname = %s AND pid <> %s",
                        (name, db.info.backend_pid),
                    )
                    time.sleep(0.5)
            finally:
                admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
        enqueue_many_sync(db, [{"step": "s", "tool_kind": "noop", "input": {}}])
        wait_until(
            lambda: status_counts(db).get("COMPLETED") == 1, timeout=60, what="work after it"
        )
        worker.send_signal(signal.SIGTERM)
        _, err = worker.communicate(timeout=60)
    lines = err.splitlines()
    assert sum("cannot claim" in line for line in lines) == 1, err
    assert sum("claiming again" in line for line in lines) == 1, err
    # psycopg's own lines about the dead connections are folded into that one
    assert not [line for line in lines if re.match(r"\S+ \S+ \w+ psycopg[.:]", line)], err

"""OpenTelemetry: a command's run is a child of the request that enqueued it.

Each case runs an application in a process of its own (tests/fixtures/
traced_app.py): a tracer provider is set once per process, and this one's
other tests must run untraced."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import psycopg

from tests.conftest import ROOT


def test_the_trace_goes_from_enqueue_to_the_run_in_the_worker(
    dsn: str, db: psycopg.Connection[Any]
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tests.fixtures.traced_app", dsn],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    spans = [json.loads(line) for line in done.stdout.splitlines()]
    request = next(s for s in spans if s["name"] == "POST /orders")
    enqueues = [s for s in spans if s["name"] == "pgqueue enqueue"]
    traced = next(s for s in enqueues if s["parent"] == request["span_id"])
    run = next(s for s in spans if s["name"] == "pgqueue run ship")
    assert traced["trace_id"] == run["trace_id"] == request["trace_id"]
    assert run["parent"] == traced["span_id"]  # in the worker, a child of the enqueue
    assert run["kind"] == "CONSUMER" and traced["kind"] == "PRODUCER"
    (shipped,) = [
        r[0] for r in db.execute("SELECT command_id FROM noetl.command WHERE tool_kind = 'ship'")
    ]
    assert run["attributes"]["messaging.message.id"] == str(shipped)
    metas = [r[0] for r in db.execute("SELECT meta FROM noetl.command")]
    assert all("traceparent" in m["pgqueue_trace"] for m in metas)
    failed = next(s for s in spans if s["name"] == "pgqueue run boom")
    assert failed["status"] == "ERROR" and failed["events"] == ["exception"]


def test_without_an_sdk_nothing_is_traced_or_written(dsn: str, db: psycopg.Connection[Any]) -> None:
    script = (
        "import sys, psycopg, pgqueue\n"
        "with psycopg.connect(sys.argv[1]) as conn:\n"
        "    pgqueue.enqueue_sync(conn, step='s', tool_kind='k', input={})\n"
    )
    subprocess.run([sys.executable, "-c", script, dsn], check=True, cwd=ROOT)
    assert db.execute("SELECT meta FROM noetl.command").fetchone() == (None,)

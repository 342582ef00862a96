"""The built-in tools and retention, on a real database (and a local HTTP server)."""

from __future__ import annotations

import asyncio
import http.server
import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import psycopg
import psycopg_pool
import pytest

from pgqueue import PgCommandSource, Worker, enqueue_sync
from pgqueue import retention as retentions
from pgqueue.db.gateway import Gateway
from pgqueue.tools.builtin import DEFAULT_TOOLS, postgres, python_tool
from tests.helpers import row, status_counts, wait_until_async

Pool = psycopg_pool.AsyncConnectionPool[Any]
Conn = psycopg.Connection[Any]


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status = {"/ok": 200, "/missing": 404, "/busy": 503}.get(self.path, 500)
        body = json.dumps({"path": self.path}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def http_base() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


async def run_worker(pool: Pool, **tools: Any) -> Worker:
    worker = Worker(PgCommandSource(pool, worker_id="w", wait=False), pool=pool)
    for kind, function in {**DEFAULT_TOOLS, **tools}.items():
        worker.register(kind, function)
    await worker.run()
    return worker


async def test_http_tool(pool: Pool, db: Conn, http_base: str) -> None:
    ok = enqueue_sync(db, step="s", tool_kind="http", input={"url": f"{http_base}/ok"})
    missing = enqueue_sync(db, step="s", tool_kind="http", input={"url": f"{http_base}/missing"})
    busy = enqueue_sync(db, step="s", tool_kind="http", input={"url": f"{http_base}/busy"})
    bad = enqueue_sync(db, step="s", tool_kind="http", input={"url": "file:///etc/passwd"})
    await run_worker(pool)
    assert row(db, ok)["result"]["status"] == 200
    assert row(db, ok)["result"]["body"] == {"path": "/ok"}
    assert (row(db, missing)["status"], row(db, missing)["attempts"]) == ("FAILED", 1)  # 4xx
    assert "404" in row(db, missing)["error"]
    assert (row(db, busy)["status"], row(db, busy)["attempts"]) == ("PENDING", 1)  # 5xx: retry
    assert row(db, bad)["status"] == "FAILED" and "http://" in row(db, bad)["error"]


async def test_python_tool_calls_only_allowed_modules(pool: Pool, db: Conn) -> None:
    allowed = enqueue_sync(
        db,
        step="s",
        tool_kind="python",
        input={"callable": "pgqueue.cli.demo:word_count", "kwargs": {"text": "a b a"}},
    )
    refused = enqueue_sync(db, step="s", tool_kind="python", input={"callable": "os:getcwd"})
    await run_worker(pool, python=python_tool(["pgqueue.cli.demo"]))
    assert row(db, allowed)["result"] == {"a": 2, "b": 1}
    assert row(db, refused)["status"] == "FAILED"
    assert "allow-list" in row(db, refused)["error"]


async def test_postgres_tool_runs_a_parameterised_statement(pool: Pool, db: Conn) -> None:
    query = enqueue_sync(
        db,
        step="s",
        tool_kind="postgres",
        input={"sql": "SELECT %s::int + %s::int AS total, 'x''; --' AS text", "params": [2, 3]},
    )
    await run_worker(pool, postgres=postgres)
    assert row(db, query)["result"] == {"rows": [{"total": 5, "text": "x'; --"}], "rowcount": 1}


async def test_sleep_and_noop(pool: Pool, db: Conn) -> None:
    nap = enqueue_sync(db, step="s", tool_kind="sleep", input={"seconds": 0.01})
    nothing = enqueue_sync(db, step="s", tool_kind="noop", input={})
    await run_worker(pool)
    assert (row(db, nap)["result"], row(db, nothing)["result"]) == ({"slept": 0.01}, {})


async def test_retention_defaults_and_prunes(pool: Pool, db: Conn) -> None:
    gateway = Gateway(pool)
    assert await retentions.default_for(gateway) == retentions.Retention(timedelta(days=7))
    old, fresh, failed = (enqueue_sync(db, step="s", tool_kind="noop", input={}) for _ in range(3))
    db.execute(
        "UPDATE noetl.command SET status = 'COMPLETED', completed_at = now() - interval '8 days'"
        " WHERE command_id = %s",
        (int(old),),
    )
    db.execute(
        "UPDATE noetl.command SET status = 'COMPLETED', completed_at = now() WHERE command_id = %s",
        (int(fresh),),
    )
    db.execute(
        "UPDATE noetl.command SET status = 'FAILED', completed_at = now() - interval '8 days'"
        " WHERE command_id = %s",
        (int(failed),),
    )
    pruner = retentions.Pruner(gateway, retentions.Retention(timedelta(days=7)))
    pruner.start()
    await wait_until_async(
        lambda: asyncio.sleep(0, status_counts(db).get("COMPLETED") == 1), what="the old row pruned"
    )
    await pruner.stop()
    assert status_counts(db) == {"COMPLETED": 1, "FAILED": 1}  # dead letters are kept
    db.execute("COMMENT ON TABLE noetl.command IS NULL")  # as NoETL's own table
    assert await retentions.default_for(gateway) is None

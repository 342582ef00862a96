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
from psycopg.conninfo import conninfo_to_dict

from pgqueue import PermanentFailure, PgCommandSource, Worker, enqueue_sync
from pgqueue import retention as retentions
from pgqueue.db.gateway import Gateway
from pgqueue.tools.builtin import (
    DEFAULT_TOOLS,
    http_tool,
    postgres_tool,
    postgres_tool_pool,
    python_tool,
)
from tests.helpers import row, status_counts, wait_until_async

Pool = psycopg_pool.AsyncConnectionPool[Any]
Conn = psycopg.Connection[Any]


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path.startswith("/redirect"):
            # to the same server under a name that is not on the allow-list
            port = self.server.server_address[1]
            self.send_response(302)
            self.send_header("Location", f"http://localhost:{port}/ok")
            self.end_headers()
            return
        huge = self.path == "/huge"
        body = b"x" * 5000 if huge else json.dumps({"path": self.path}).encode()
        status = {"/ok": 200, "/missing": 404, "/busy": 503, "/huge": 200}.get(self.path, 500)
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
    await run_worker(pool, http=http_tool(["127.0.0.1"]))
    assert row(db, ok)["result"]["status"] == 200
    assert row(db, ok)["result"]["body"] == {"path": "/ok"}
    assert (row(db, missing)["status"], row(db, missing)["attempts"]) == ("FAILED", 1)  # 4xx
    assert "404" in row(db, missing)["error"]
    assert (row(db, busy)["status"], row(db, busy)["attempts"]) == ("PENDING", 1)  # 5xx: retry
    assert row(db, bad)["status"] == "FAILED" and "http://" in row(db, bad)["error"]


def test_http_is_not_a_default_tool() -> None:
    # anyone who can enqueue would otherwise make every worker fetch any URL
    assert "http" not in DEFAULT_TOOLS


async def test_http_tool_reaches_only_allowed_hosts_within_its_size_cap(
    pool: Pool, db: Conn, http_base: str
) -> None:
    port = http_base.rsplit(":", 1)[1]
    elsewhere = enqueue_sync(
        db, step="s", tool_kind="http", input={"url": f"http://localhost:{port}/ok"}
    )
    redirected = enqueue_sync(
        db, step="s", tool_kind="http", input={"url": f"{http_base}/redirect"}
    )
    huge = enqueue_sync(db, step="s", tool_kind="http", input={"url": f"{http_base}/huge"})
    small = enqueue_sync(db, step="s", tool_kind="http", input={"url": f"{http_base}/ok"})
    await run_worker(pool, http=http_tool(["127.0.0.1"], max_bytes=1000))
    assert row(db, elsewhere)["status"] == "FAILED"
    assert "'localhost' is not in the allow-list" in row(db, elsewhere)["error"]
    assert row(db, redirected)["status"] == "FAILED"  # a redirect may not leave the list
    assert "'localhost' is not in the allow-list" in row(db, redirected)["error"]
    assert row(db, huge)["status"] == "FAILED"
    assert "larger than 1000 bytes" in row(db, huge)["error"]
    assert row(db, small)["result"]["body"] == {"path": "/ok"}


def test_an_http_allow_list_may_name_subdomains() -> None:
    from pgqueue.tools.builtin import _Hosts

    hosts = _Hosts(["api.example.com", "*.internal.example"])
    hosts.check("https://api.example.com/x")
    hosts.check("https://a.b.internal.example/")
    for refused in ("https://example.com/", "https://internal.example/", "https://evil.com/"):
        with pytest.raises(PermanentFailure, match="allow-list"):
            hosts.check(refused)


async def test_python_tool_refuses_what_an_allowed_module_imports(pool: Pool, db: Conn) -> None:
    # An allowed module's imports (os.path.basename here; subprocess.check_output
    # in the report) are not its functions.
    def call(target: str, *args: Any) -> str:
        return enqueue_sync(
            db, step="s", tool_kind="python", input={"callable": target, "args": list(args)}
        )

    imported = call("tests.fixtures.python_targets:basename", "/a/b")
    module = call("tests.fixtures.python_targets:os")
    private = call("tests.fixtures.python_targets:_private")
    defined = call("tests.fixtures.python_targets:shout", "hi")
    named = call("os.path:basename", "/a/b")
    python = python_tool(["tests.fixtures.python_targets"], callables=["os.path:basename"])
    await run_worker(pool, python=python)
    for refused in (imported, module):
        assert row(db, refused)["status"] == "FAILED"
        assert "not a function defined in an allowed module" in row(db, refused)["error"]
    assert row(db, private)["status"] == "FAILED"
    assert "not a public function" in row(db, private)["error"]
    assert row(db, defined)["result"] == "HI"
    assert row(db, named)["result"] == "b"  # named explicitly: allowed


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
    async with postgres_tool_pool(dsn_of(pool)) as tool_pool:
        await run_worker(pool, postgres=postgres_tool(tool_pool))
    assert row(db, query)["result"] == {"rows": [{"total": 5, "text": "x'; --"}], "rowcount": 1}


def dsn_of(pool: Pool) -> str:
    assert isinstance(pool.conninfo, str)
    return pool.conninfo


async def test_the_postgres_tool_cannot_poison_the_workers_sessions(
    pool: Pool, db: Conn, login: Any
) -> None:
    # A statement that changes its session (read-only from now on) used to run
    # on the worker's own pool and broke every later claim and completion. It
    # runs on a pool of its own now, as the configured role, reset after use.
    reader = login("pgqueue_worker")
    reader_role = conninfo_to_dict(reader)["user"]
    poison = enqueue_sync(
        db,
        step="s",
        tool_kind="postgres",
        priority=10,
        input={"sql": "SET default_transaction_read_only = on"},
    )
    after = [
        enqueue_sync(
            db,
            step="s",
            tool_kind="postgres",
            input={
                "sql": "SELECT current_setting('default_transaction_read_only') AS ro,"
                " current_user AS who"
            },
        )
        for _ in range(3)
    ]
    async with postgres_tool_pool(dsn_of(pool), role=reader_role, max_size=1) as tool_pool:
        worker = Worker(PgCommandSource(pool, worker_id="w", wait=False), pool=pool, concurrency=1)
        worker.register("postgres", postgres_tool(tool_pool))
        await worker.run()
    assert row(db, poison)["status"] == "COMPLETED"
    for command_id in after:
        assert row(db, command_id)["status"] == "COMPLETED"  # the worker's writes still work
        assert row(db, command_id)["result"]["rows"] == [{"ro": "off", "who": reader_role}]


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

"""The dashboard's app in-process, against a real database: its reads under a
read-only role, its estimates, its inputs, no secret on any page, its mount
under a prefix, and one read of the live figures for any number of tabs. (The
browser tests are in tests/acceptance/test_dashboard.py.)"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx2 as httpx
import psycopg
import pytest
import uvicorn
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

from pgqueue import enqueue_many_sync
from pgqueue.dashboard import app, reads
from tests.acceptance.test_observability import free_port
from tests.helpers import wait_until

Conn = psycopg.Connection[Any]

PAGES = ("/", "/commands", "/workers", "/reports", "/flow", "/schedules", "/login")


@pytest.fixture
def client(dsn: str) -> Iterator[TestClient]:
    with TestClient(app(dsn, token="t0ken-for-tests")) as c:  # noqa: S106 - the tests' own
        yield c


def test_every_page_reads_under_a_read_only_role(dsn: str, db: Conn) -> None:
    (command_id,) = enqueue_many_sync(db, [{"step": "s", "tool_kind": "noop", "input": {}}])
    db.execute("DROP ROLE IF EXISTS dash_reader")
    db.execute("CREATE ROLE dash_reader LOGIN")
    db.execute("GRANT USAGE ON SCHEMA noetl TO dash_reader")
    db.execute("GRANT SELECT ON ALL TABLES IN SCHEMA noetl TO dash_reader")
    reader = make_conninfo(dsn, user="dash_reader")
    try:
        with TestClient(app(reader)) as c:
            for path in (*PAGES, f"/commands/{command_id}", "/executions/1"):
                answer = c.get(path)
                assert answer.status_code == 200, (path, answer.text[-500:])
    finally:
        db.execute("REASSIGN OWNED BY dash_reader TO CURRENT_USER")
        db.execute("DROP OWNED BY dash_reader")


def test_no_page_shows_the_password(dsn: str, db: Conn) -> None:
    secret = "pa55-w0rd-never-shown"  # noqa: S105 - the test's own (trust auth ignores it)
    with_password = make_conninfo(dsn, password=secret)
    enqueue_many_sync(db, [{"step": "s", "tool_kind": "noop", "input": {}}])
    with TestClient(app(with_password)) as c:
        for path in PAGES:
            page = c.get(path).text
            assert secret not in page
            assert conninfo_to_dict(dsn)["dbname"] not in page  # not even where it is


def test_bad_input_is_one_line_naming_the_field_and_writes_nothing(
    client: TestClient, db: Conn
) -> None:
    for path, field in (
        ("/commands?status=BOGUS", "status:"),
        ("/commands?execution_id=abc", "execution_id:"),
        ("/commands?before=1x", "before:"),
    ):
        answer = client.get(path)
        assert answer.status_code == 400
        assert f'<p class="error" id="error">{field}' in answer.text
    assert client.get("/commands/12345").status_code == 404
    # an action's field: refused before anything is written (and signed out anyway)
    answer = client.post("/flow/set", data={"tool_kind": "noop", "max_running": "many"})
    assert answer.status_code == 403
    assert db.execute("SELECT count(*) FROM noetl.pgqueue_limit").fetchone() == (0,)


def test_a_signed_in_script_gets_one_line_naming_the_field(client: TestClient, db: Conn) -> None:
    bearer = {"Authorization": "Bearer t0ken-for-tests"}
    answer = client.post(
        "/flow/set", data={"tool_kind": "noop", "max_running": "many"}, headers=bearer
    )
    assert answer.status_code == 400
    assert "max_running: " in answer.text
    answer = client.post("/flow/set", data={"tool_kind": "noop", "rate": "fast"}, headers=bearer)
    assert answer.status_code == 400
    assert "rate: " in answer.text
    assert db.execute("SELECT count(*) FROM noetl.pgqueue_limit").fetchone() == (0,)
    answer = client.post(
        "/flow/set",
        data={"tool_kind": "noop", "max_running": "3"},
        headers=bearer,
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert db.execute("SELECT key, max_running FROM noetl.pgqueue_limit").fetchall() == [
        ("noop", 3)
    ]


def test_the_overview_estimates_a_big_table_and_says_so(
    client: TestClient, db: Conn, monkeypatch: pytest.MonkeyPatch
) -> None:
    enqueue_many_sync(db, [{"step": "s", "tool_kind": "noop", "input": {}}] * 3000)
    db.execute("ANALYZE noetl.command")
    exact = client.get("/").text
    assert 'id="count-pending">3,000<' in exact
    assert 'id="estimated" class="estimate" hidden' in exact
    monkeypatch.setattr(reads, "EXACT_UP_TO", 1000)
    estimated = client.get("/").text
    assert 'id="estimated" class="estimate">' in estimated  # shown
    assert 'id="count-pending">3,000<' in estimated  # every row is PENDING: exact still


def test_mounted_in_a_host_application_every_link_keeps_its_prefix(dsn: str) -> None:
    host = Starlette(routes=[Mount("/queue", app=app(dsn))])
    with TestClient(host) as c:
        page = c.get("/queue/commands")
        assert page.status_code == 200
        assert 'href="/queue/static/dashboard.css"' in page.text
        assert 'action="/queue/commands"' in page.text
        assert c.get("/queue/static/dashboard.css").status_code == 200


def test_ten_open_tabs_cost_the_database_one_read_per_interval(dsn: str) -> None:
    """Ten live streams at once for a while: the overview is read once per
    interval for all of them, not once per tab."""
    dashboard = app(dsn, refresh=0.2)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(dashboard, host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started, what="the server to start")
    snapshots = [0] * 10
    stop = threading.Event()

    def tab(i: int) -> None:
        with (
            httpx.Client(timeout=10) as c,
            c.stream("GET", f"http://127.0.0.1:{port}/events") as stream,
        ):
            for line in stream.iter_lines():
                if line.startswith("data: "):
                    snapshots[i] += 1
                if stop.is_set():
                    return

    tabs = [threading.Thread(target=tab, args=(i,), daemon=True) for i in range(10)]
    began = time.monotonic()
    for t in tabs:
        t.start()
    try:
        wait_until(lambda: min(snapshots) >= 5, what="every tab to get five snapshots")
        elapsed = time.monotonic() - began
        polls = dashboard.state.dashboard.live.polls
        # one read per interval for all ten (give or take the one in flight)
        assert polls <= elapsed / 0.2 + 2, (polls, elapsed)
        assert sum(snapshots) >= 50 > polls
    finally:
        stop.set()
        server.should_exit = True
        thread.join(timeout=10)

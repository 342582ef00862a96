"""The dashboard's app in-process, against a real database: its reads under a
read-only role, its estimates, its inputs, no secret on any page, its mount
under a prefix, and one read of the live figures for any number of tabs. (The
browser tests are in tests/acceptance/test_dashboard.py.)"""

from __future__ import annotations

import logging
import re
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

from pgqueue import add_schedule_sync, enqueue_many_sync
from pgqueue.dashboard import app, reads
from tests.acceptance.test_observability import free_port
from tests.helpers import status_counts, wait_until

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


BEARER = {"Authorization": "Bearer t0ken-for-tests"}


def test_a_browser_session_needs_its_csrf_token(client: TestClient, db: Conn) -> None:
    signed_in = client.post("/login", data={"token": "t0ken-for-tests"}, follow_redirects=False)
    assert signed_in.status_code == 303
    assert "pgqueue_dashboard" in signed_in.headers["set-cookie"]
    assert "httponly" in signed_in.headers["set-cookie"].lower()
    assert "samesite=strict" in signed_in.headers["set-cookie"].lower()
    refused = client.post("/flow/pause", data={"tool_kind": "noop"})
    assert refused.status_code == 403
    assert "CSRF" in refused.text
    page = client.get("/flow").text
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
    assert csrf is not None
    done = client.post(
        "/flow/pause",
        data={"tool_kind": "noop", "reason": "from the form", "csrf": csrf.group(1)},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert db.execute("SELECT tool_kind, reason FROM noetl.pgqueue_pause").fetchall() == [
        ("noop", "from the form")
    ]
    client.post("/logout")
    assert client.post("/flow/resume", data={"tool_kind": "noop"}).status_code == 403


def test_a_command_is_made_due_now_cancelled_and_retried_from_its_page(
    client: TestClient, db: Conn
) -> None:
    (command_id,) = enqueue_many_sync(
        db, [{"step": "later", "tool_kind": "noop", "input": {}, "delay": 3600}]
    )

    def state() -> tuple[str, bool]:
        row = db.execute(
            "SELECT status, due_at <= now() FROM noetl.command WHERE command_id = %s",
            (int(command_id),),
        ).fetchone()
        assert row is not None
        return row[0], row[1]

    assert state() == ("PENDING", False)
    page = client.get(f"/commands/{command_id}").text
    assert "not due" in page  # why it waits
    answer = client.post(f"/commands/{command_id}/retry-now", headers=BEARER)
    assert "due now" in answer.text
    assert state() == ("PENDING", True)
    answer = client.post(f"/commands/{command_id}/cancel", headers=BEARER)
    assert "cancelled" in answer.text
    assert state()[0] == "CANCELLED"
    answer = client.post(f"/commands/{command_id}/retry", headers=BEARER)
    assert "nothing to retry" in answer.text
    assert client.post(f"/commands/{command_id}/explode", headers=BEARER).status_code == 400


def test_cancelling_every_matching_command_states_the_count_then_acts_on_those(
    client: TestClient, db: Conn
) -> None:
    nightly = enqueue_many_sync(
        db, [{"step": f"nightly {i}", "tool_kind": "noop", "input": {}} for i in range(3)]
    )
    others = enqueue_many_sync(db, [{"step": "hourly", "tool_kind": "noop", "input": {}}] * 2)
    asked = client.post(
        "/commands/action", data={"do": "cancel-matching", "text": "nightly"}, headers=BEARER
    )
    assert asked.status_code == 200
    assert "Cancel 3 commands?" in asked.text
    assert status_counts(db) == {"PENDING": 5}  # asked, not done
    ids = re.findall(r'name="ids" value="(\d+)"', asked.text)
    assert sorted(ids) == sorted(str(i) for i in nightly)
    done = client.post(
        "/commands/action",
        data={"do": "cancel", "confirmed": "yes", "ids": ids, "text": "nightly"},
        headers=BEARER,
    )
    assert "3 of 3 cancelled" in done.text
    rows = db.execute(
        "SELECT command_id::text, status FROM noetl.command ORDER BY command_id"
    ).fetchall()
    assert {c: s for c, s in rows} == {
        **{str(i): "CANCELLED" for i in nightly},
        **{str(i): "PENDING" for i in others},
    }


def test_schedules_run_now_pause_and_resume_from_the_page(client: TestClient, db: Conn) -> None:
    add_schedule_sync(
        db, "hourly-sync", every="1h", command={"step": "sync", "tool_kind": "noop", "input": {}}
    )
    assert "hourly-sync" in client.get("/schedules").text
    answer = client.post("/schedules/hourly-sync/run-now", headers=BEARER)
    assert "hourly-sync: enqueued" in answer.text
    assert status_counts(db) == {"PENDING": 1}
    client.post("/schedules/hourly-sync/pause", headers=BEARER)
    assert db.execute("SELECT paused_at IS NOT NULL FROM noetl.pgqueue_schedule").fetchone() == (
        True,
    )
    client.post("/schedules/hourly-sync/resume", headers=BEARER)
    assert db.execute("SELECT paused_at IS NULL FROM noetl.pgqueue_schedule").fetchone() == (True,)
    assert client.post("/schedules/no-such/pause", headers=BEARER).status_code == 404


def test_a_parked_report_is_sent_again_from_the_reports_page(client: TestClient, db: Conn) -> None:
    (report_id,) = db.execute(
        "INSERT INTO noetl.pgqueue_outbox (execution_id, command_id, kind, idempotency_key,"
        " body, parked_at, response_status, response_body) VALUES (1, 2, 'finished', 'k',"
        " '{}', now(), 409, 'execution already ended') RETURNING report_id"
    ).fetchone()  # type: ignore[misc]
    page = client.get("/reports").text
    assert "execution already ended" in page
    answer = client.post(f"/reports/{report_id}/resend", headers=BEARER)
    assert "1 report(s) sent again" in answer.text
    assert db.execute("SELECT parked_at FROM noetl.pgqueue_outbox").fetchone() == (None,)


def test_every_action_is_logged_with_who_and_what(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="pgqueue.dashboard"):
        client.post("/flow/pause", data={"tool_kind": "noop"}, headers=BEARER)
        client.post("/flow/resume", data={"tool_kind": "noop"})  # no token: refused
    done, refused = (r for r in caplog.records if r.name.startswith("pgqueue.dashboard"))
    assert done.action == "dashboard_action"  # type: ignore[attr-defined]
    assert done.what == "flow control: pause"  # type: ignore[attr-defined]
    assert done.client == "testclient"  # type: ignore[attr-defined]
    assert "noop paused" in done.getMessage()
    assert refused.action == "dashboard_refused"  # type: ignore[attr-defined]
    assert "sign in" in refused.getMessage()


def test_a_page_behind_a_held_lock_gives_up_instead_of_hanging(
    client: TestClient, dsn: str
) -> None:
    """Every statement runs under the dashboard's deadline: behind a transaction
    that holds the tables (a migration's DDL would), each page answers 503 with
    the database's reason, from the gateway's reads and from the operator API
    alike, and answers again once the lock is gone."""
    with psycopg.connect(dsn) as holder:
        holder.execute("LOCK TABLE noetl.command, noetl.pgqueue_limit IN ACCESS EXCLUSIVE MODE")
        for path in ("/", "/commands", "/flow"):
            answer = client.get(path)
            assert answer.status_code == 503, (path, answer.text[-300:])
            assert "lock" in answer.text.lower()
        holder.rollback()
    for path in ("/", "/commands", "/flow"):
        assert client.get(path).status_code == 200

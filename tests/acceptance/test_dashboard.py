"""`pgqueue dashboard` in a real browser: Debian's chromium, headless, driven by
Playwright's Python package (pointed at the system browser: nothing downloads
one), against a real database, the real `pgqueue dashboard` process and, where
the test needs one, a real worker process.

Each test takes a screenshot of the pages it visits, into
``PGQUEUE_SCREENSHOTS`` when set (docs/dashboard/ holds the README's), else
into the test's own temporary directory."""

from __future__ import annotations

import contextlib
import http.server
import os
import shutil
import signal
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

import pgqueue
from pgqueue import enqueue_many_sync
from tests.acceptance.cli import env, spawn
from tests.acceptance.cli import pgqueue as pgqueue_cli
from tests.acceptance.test_observability import free_port
from tests.acceptance.test_worker_processes import worker
from tests.helpers import status_counts, wait_until

Conn = psycopg.Connection[Any]

pytestmark = pytest.mark.slow

TOKEN = "a-long-dashboard-token-for-the-tests"  # noqa: S105 - the tests' own

#: where Debian puts the browser (the package chromium, which .ci/run installs)
CHROMIUM = next(
    (p for p in ("/usr/lib/chromium/chromium", shutil.which("chromium")) if p and Path(p).exists()),
    None,
)
#: what a closed network needs: no background connections, no first-run work
FLAGS = [
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("Debian's chromium is missing: .ci/run installs it")
        pytest.skip("install Debian's chromium (apt-get install chromium) for the browser tests")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    opened = context.new_page()
    opened.set_default_timeout(20_000)
    yield opened
    context.close()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    where = Path(os.environ.get("PGQUEUE_SCREENSHOTS") or tmp_path)
    where.mkdir(parents=True, exist_ok=True)
    return where


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - http only
            return bool(response.status == 200)
    except OSError:
        return False


@contextlib.contextmanager
def serving(dsn: str, *flags: str) -> Iterator[str]:
    """`pgqueue dashboard` on a free port, with the token in its environment and
    ``flags``; its base URL once it answers. Stopped with SIGTERM."""
    port = free_port()
    with spawn(
        "dashboard",
        "--dsn",
        dsn,
        "--port",
        str(port),
        *flags,
        env=env(PGQUEUE_DASHBOARD_TOKEN=TOKEN),
    ) as child:
        base = f"http://127.0.0.1:{port}"
        wait_until(lambda: _answers(base + "/login"), what="the dashboard to answer")
        yield base
        child.send_signal(signal.SIGTERM)
        child.communicate(timeout=30)


@pytest.fixture
def dashboard(dsn: str) -> Iterator[str]:
    with serving(dsn, "--refresh", "0.3") as base:
        yield base


def sign_in(page: Any, base: str) -> None:
    page.goto(base + "/login")
    page.fill("input[name=token]", TOKEN)
    page.click("#login button")
    page.wait_for_url(base + "/")


def failed(db: Conn, n: int, step: str = "broke") -> list[str]:
    """``n`` FAILED commands of kind ``noop``, each with an error."""
    ids = enqueue_many_sync(db, [{"step": step, "tool_kind": "noop", "input": {}}] * n)
    db.execute(
        "UPDATE noetl.command SET status = 'FAILED', attempts = max_attempts,"
        " error = 'boom: the tool gave up', completed_at = now() WHERE command_id = ANY(%s)",
        ([int(i) for i in ids],),
    )
    return [str(i) for i in ids]


def statuses(db: Conn, ids: list[str]) -> list[str]:
    rows = db.execute(
        "SELECT status FROM noetl.command WHERE command_id = ANY(%s) ORDER BY command_id",
        ([int(i) for i in ids],),
    ).fetchall()
    return [r[0] for r in rows]


def test_every_page_loads_with_what_it_shows(
    dsn: str, db: Conn, dashboard: str, page: Any, shots: Path
) -> None:
    db.execute("SET TIME ZONE 'UTC'")
    done = enqueue_many_sync(
        db,
        [
            {"step": f"extract {i}", "tool_kind": "noop", "input": {"n": i}, "execution_id": 7001}
            for i in range(3)
        ],
    )
    broken = failed(db, 2)
    enqueue_many_sync(db, [{"step": "later", "tool_kind": "sleep", "input": {"seconds": 0}}])
    pgqueue.add_schedule_sync(
        db,
        "nightly-report",
        cron="0 3 * * *",
        command={"step": "report", "tool_kind": "noop", "input": {}},
    )
    pgqueue.set_limit_sync(db, tool_kind="sleep", max_running=2)
    pgqueue.pause_sync(db, "sleep", reason="the API is down")
    db.execute(
        "INSERT INTO noetl.pgqueue_outbox (execution_id, command_id, kind, idempotency_key, body,"
        " parked_at, response_status, response_body) VALUES (7001, %s, 'finished', 'k1', '{}',"
        " now(), 422, 'unknown execution')",
        (int(done[0]),),
    )
    sign_in(page, dashboard)  # the pages with their actions
    with worker(dsn, "dash-w1", "--tool-kinds", "noop") as w:
        wait_until(
            lambda: statuses(db, [str(i) for i in done]) == ["COMPLETED"] * 3,
            what="the execution's commands to complete",
        )
        pages = {
            "overview": ("/", "#running"),
            "commands": ("/commands", "#commands"),
            "command": (f"/commands/{broken[0]}", "pre.error"),
            "execution": ("/executions/7001", "#execution"),
            "workers": ("/workers", "#workers"),
            "reports": ("/reports", "#parked-reports"),
            "flow": ("/flow", "#paused"),
            "schedules": ("/schedules", "#schedules"),
            "login": ("/login", "#login"),
        }
        for name, (path, shown) in pages.items():
            response = page.goto(dashboard + path)
            assert response.status == 200, (path, response.status)
            page.wait_for_selector(shown)
            page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
        page.goto(dashboard + "/workers")
        assert "dash-w1" in page.inner_text("#workers")
        w.send_signal(signal.SIGTERM)
        w.communicate(timeout=60)
    # what each page shows, read back from the pages themselves
    page.goto(dashboard + "/flow")
    assert "the API is down" in page.inner_text("#paused")
    assert "sleep" in page.inner_text("#limits")
    page.goto(dashboard + "/schedules")
    assert "0 3 * * *" in page.inner_text("#schedules")
    page.goto(dashboard + "/reports")
    assert "unknown execution" in page.inner_text("#parked-reports")
    page.goto(dashboard + "/executions/7001")
    assert page.inner_text("#execution").count("COMPLETED") == 3
    page.goto(dashboard + f"/commands/{broken[0]}")
    assert "boom: the tool gave up" in page.inner_text("pre.error")
    page.goto(dashboard + "/commands?status=PENDING&tool_kind=sleep")
    page.locator("#commands tbody a").first.click()
    assert "paused" in page.inner_text("#why")


def test_the_commands_page_filters(db: Conn, dashboard: str, page: Any, shots: Path) -> None:
    enqueue_many_sync(
        db,
        [{"step": f"load {i}", "tool_kind": "sleep", "input": {}} for i in range(4)]
        + [{"step": f"mail {i}", "tool_kind": "noop", "input": {}} for i in range(3)],
    )
    page.goto(dashboard + "/commands")
    assert page.locator("#commands tbody tr").count() == 7
    page.fill("#filter input[name=tool_kind]", "noop")
    page.fill("#filter input[name=text]", "mail")
    page.click("#filter button")
    page.wait_for_url("**tool_kind=noop**")
    rows = page.locator("#commands tbody tr")
    assert rows.count() == 3
    assert all("mail" in rows.nth(i).inner_text() for i in range(3))
    page.screenshot(path=str(shots / "commands-filtered.png"), full_page=True)


def test_bulk_retry_sends_the_two_selected_failed_commands_back_to_pending(
    db: Conn, dashboard: str, page: Any
) -> None:
    chosen = failed(db, 2, step="retry me")
    other = failed(db, 1, step="leave me")
    sign_in(page, dashboard)
    page.goto(dashboard + "/commands?status=FAILED")
    for command_id in chosen:
        page.check(f"#commands input[value='{command_id}']")
    page.click("#retry-selected")
    assert page.inner_text("h1") == "Retry 2 commands?"
    assert statuses(db, chosen) == ["FAILED", "FAILED"]  # asked, not done yet
    page.click("#confirm")
    page.wait_for_selector("#flash")
    assert "2 of 2 sent back to PENDING" in page.inner_text("#flash")
    assert statuses(db, chosen) == ["PENDING", "PENDING"]
    assert statuses(db, other) == ["FAILED"]
    page.goto(dashboard + "/commands?status=PENDING")
    assert page.locator("#commands tbody tr").count() == 2


def test_pausing_a_kind_stops_the_worker_claiming_it(
    dsn: str, db: Conn, dashboard: str, page: Any
) -> None:
    sign_in(page, dashboard)
    page.goto(dashboard + "/flow")
    page.fill("#pause-form input[name=tool_kind]", "noop")
    page.fill("#pause-form input[name=reason]", "incident 42")
    page.click("#pause-form button")
    page.wait_for_selector("#flash")
    assert "incident 42" in page.inner_text("#paused")
    paused = enqueue_many_sync(db, [{"step": "held", "tool_kind": "noop", "input": {}}] * 5)
    probe = enqueue_many_sync(
        db, [{"step": "probe", "tool_kind": "sleep", "input": {"seconds": 0}}]
    )
    with worker(dsn, "dash-pause") as w:
        # the worker is alive and claiming: its other kind ran
        wait_until(lambda: statuses(db, [str(probe[0])]) == ["COMPLETED"], what="the probe")
        assert statuses(db, [str(i) for i in paused]) == ["PENDING"] * 5
        page.goto(dashboard + "/flow")
        page.click("#paused button")  # resume
        page.wait_for_selector("#flash")
        wait_until(
            lambda: statuses(db, [str(i) for i in paused]) == ["COMPLETED"] * 5,
            what="the paused kind to drain once resumed",
        )
        w.send_signal(signal.SIGTERM)
        w.communicate(timeout=60)


def test_the_overview_counts_change_live_while_a_worker_drains(
    dsn: str, db: Conn, dashboard: str, page: Any, shots: Path
) -> None:
    enqueue_many_sync(db, [{"step": "drain", "tool_kind": "noop", "input": {}}] * 300)
    page.goto(dashboard + "/")
    # (polled from here: the page's CSP refuses the eval of wait_for_function)
    wait_until(lambda: page.inner_text("#live-state").startswith("updated"), what="a snapshot")
    assert page.inner_text("#count-pending") == "300"
    assert page.inner_text("#count-completed") == "0"
    marker = page.evaluate("window.notReloaded = true")
    assert marker is True
    with worker(dsn, "dash-live", "--tool-kinds", "noop") as w:
        wait_until(
            lambda: page.inner_text("#count-completed") == "300",
            timeout=60,
            what="the live count of completed commands to reach 300",
        )
        assert status_counts(db) == {"COMPLETED": 300}
        w.send_signal(signal.SIGTERM)
        w.communicate(timeout=60)
    # the same document all along: the figures changed without a reload
    assert page.evaluate("window.notReloaded") is True
    assert page.inner_text("#count-pending") == "0"
    page.screenshot(path=str(shots / "overview-live.png"), full_page=True)


def test_a_stored_xss_payload_shows_as_text_and_never_runs(
    db: Conn, dashboard: str, page: Any
) -> None:
    payload = "<script>alert(1)</script>"
    (command_id,) = enqueue_many_sync(
        db,
        [{"step": payload, "tool_kind": "noop", "input": {"html": "<img src=x onerror=alert(2)>"}}],
    )
    db.execute(
        "UPDATE noetl.command SET status = 'FAILED', error = %s WHERE command_id = %s",
        ('<img src=x onerror="alert(3)">', int(command_id)),
    )
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    for path in ("/commands", f"/commands/{command_id}", "/"):
        page.goto(dashboard + path)
        page.wait_for_load_state("networkidle")
    page.goto(dashboard + "/commands")
    assert page.inner_text("#commands td.step") == payload
    assert page.locator("#commands img").count() == 0
    page.goto(dashboard + f"/commands/{command_id}")
    assert page.inner_text("strong.step") == payload
    assert page.locator("main img").count() == 0
    assert dialogs == []


def test_an_action_without_the_token_is_refused_and_writes_nothing(
    db: Conn, dashboard: str, page: Any
) -> None:
    ids = failed(db, 1)
    # a browser that never signed in: the form's POST, as a page would send it
    page.goto(dashboard + "/commands")
    for path, form in (
        ("/flow/pause", {"tool_kind": "noop", "reason": "x"}),
        ("/commands/action", {"do": "retry", "ids": ids[0], "confirmed": "yes"}),
        (f"/commands/{ids[0]}/cancel", {}),
    ):
        answer = page.request.post(
            dashboard + path, form=form, headers={"Origin": dashboard}, max_redirects=0
        )
        assert answer.status == 403, (path, answer.status)
    # a wrong token does not sign in
    page.goto(dashboard + "/login")
    page.fill("input[name=token]", "not-the-token")
    page.click("#login button")
    assert "wrong token" in page.inner_text("#login-error")
    answer = page.request.post(
        dashboard + "/flow/pause", form={"tool_kind": "noop"}, headers={"Origin": dashboard}
    )
    assert answer.status == 403
    assert db.execute("SELECT count(*) FROM noetl.pgqueue_pause").fetchone() == (0,)
    assert statuses(db, ids) == ["FAILED"]


class _Evil(http.server.BaseHTTPRequestHandler):
    """Another site's page: a form that posts to the dashboard by itself."""

    target = ""

    def do_GET(self) -> None:
        body = (
            f'<form id="f" method="post" action="{self.target}/flow/pause">'
            '<input name="tool_kind" value="noop"><input name="reason" value="pwned"></form>'
            "<script>document.getElementById('f').submit()</script>"
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def test_a_cross_site_post_is_refused_even_for_a_signed_in_browser(
    db: Conn, dashboard: str, page: Any
) -> None:
    sign_in(page, dashboard)
    handler = type("Evil", (_Evil,), {"target": dashboard})
    evil = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=evil.serve_forever, daemon=True).start()
    try:
        # localhost is another site than 127.0.0.1; the port alone makes it
        # another origin
        for host in ("localhost", "127.0.0.1"):
            with page.expect_response(lambda r: "/flow/pause" in r.url) as answered:
                page.goto(f"http://{host}:{evil.server_address[1]}/")
            assert answered.value.status == 403
    finally:
        evil.shutdown()
        evil.server_close()
    assert db.execute("SELECT count(*) FROM noetl.pgqueue_pause").fetchone() == (0,)
    # the same browser, on the dashboard's own page, may pause
    page.goto(dashboard + "/flow")
    page.fill("#pause-form input[name=tool_kind]", "noop")
    page.click("#pause-form button")
    page.wait_for_selector("#flash")
    assert db.execute("SELECT tool_kind FROM noetl.pgqueue_pause").fetchall() == [("noop",)]


def test_a_read_only_dashboard_offers_no_action_and_refuses_every_one(
    dsn: str, db: Conn, page: Any
) -> None:
    ids = failed(db, 1)
    with serving(dsn, "--read-only") as base:
        page.goto(base + "/commands")
        assert page.locator("#retry-selected").count() == 0
        assert "read-only" in page.inner_text("header")
        answer = page.request.post(
            base + "/flow/pause",
            form={"tool_kind": "noop"},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        assert answer.status == 403
    assert statuses(db, ids) == ["FAILED"]
    assert db.execute("SELECT count(*) FROM noetl.pgqueue_pause").fetchone() == (0,)


def test_on_a_schema_never_migrated_it_says_so_in_one_line_and_exits(empty_dsn: str) -> None:
    done = pgqueue_cli("dashboard", "--dsn", empty_dsn, "--port", str(free_port()), timeout=60)
    assert done.returncode == 4
    assert done.stderr.strip().splitlines() == [
        "pgqueue dashboard: schema noetl is not migrated for pgqueue: run pgqueue migrate"
    ]

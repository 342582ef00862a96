"""The CLI end to end, as subprocesses."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import psycopg_pool
import pytest

from pgqueue import enqueue_many_sync, migrate
from tests.acceptance.cli import env, pgqueue
from tests.helpers import row, status_counts

Conn = psycopg.Connection[Any]


def test_migrate_enqueue_worker_status_end_to_end(empty_dsn: str) -> None:
    migrated = pgqueue("migrate", "--dsn", empty_dsn)
    assert migrated.returncode == 0, migrated.stderr
    assert f"base → {migrate.head()}" in migrated.stdout
    again = pgqueue("migrate", "--dsn", empty_dsn)
    assert f"already at {migrate.head()}" in again.stdout

    single = pgqueue(
        "enqueue",
        "--dsn",
        empty_dsn,
        "--step",
        "ping",
        "--tool-kind",
        "noop",
        "--input",
        '{"n": 1}',
    )
    assert single.returncode == 0, single.stderr
    lines = "\n".join(
        json.dumps({"step": f"s{i}", "tool_kind": "sleep", "input": {"seconds": 0.01}})
        for i in range(20)
    )
    bulk = pgqueue("enqueue", "--jsonl", "-", input=lines, env=env(PGQUEUE_DSN=empty_dsn))
    assert bulk.returncode == 0, bulk.stderr
    assert len(bulk.stdout.split()) == 20

    with psycopg.connect(empty_dsn) as db:
        assert status_counts(db) == {"PENDING": 21}
        assert row(db, single.stdout.strip())["context"] == {"n": 1}

    worker = pgqueue(
        "worker", "--dsn", empty_dsn, "--until-empty", "--concurrency", "4", "--prefetch", "4"
    )
    assert worker.returncode == 0, worker.stderr
    assert "completed 21" in worker.stdout

    status = pgqueue("status", "--dsn", empty_dsn, "--json")
    assert status.returncode == 0, status.stderr
    report = json.loads(status.stdout)
    assert {(r["tool_kind"], r["status"]): r["commands"] for r in report["counts"]} == {
        ("noop", "COMPLETED"): 1,
        ("sleep", "COMPLETED"): 20,
    }
    assert report["due"] == 0
    table = pgqueue("status", "--dsn", empty_dsn)
    assert table.returncode == 0
    assert "completed" in table.stdout and "21" in table.stdout


def test_requeue_cancel_and_prune(dsn: str, db: Conn) -> None:
    ids = [
        pgqueue("enqueue", "--dsn", dsn, "--step", "s", "--tool-kind", "noop").stdout.strip()
        for _ in range(3)
    ]
    db.execute(
        "UPDATE noetl.command SET status = 'FAILED', attempts = 5, error = 'x'"
        " WHERE command_id = %s",
        (int(ids[0]),),
    )
    requeued = pgqueue("requeue", "--dsn", dsn, ids[0])
    assert requeued.returncode == 0 and "requeued 1" in requeued.stdout
    assert (row(db, ids[0])["status"], row(db, ids[0])["attempts"]) == ("PENDING", 0)
    nothing = pgqueue("requeue", "--dsn", dsn, "--all")
    assert nothing.returncode == 1 and "requeued 0" in nothing.stdout
    unfiltered = pgqueue("requeue", "--dsn", dsn)
    assert unfiltered.returncode == 2

    cancelled = pgqueue("cancel", "--dsn", dsn, ids[1], "999", "--reason", "not needed")
    assert cancelled.returncode == 1  # 999 does not exist
    assert "cancelled 1" in cancelled.stdout and "999" in cancelled.stdout
    assert (row(db, ids[1])["status"], row(db, ids[1])["error"]) == ("CANCELLED", "not needed")

    db.execute(
        "UPDATE noetl.command SET status = 'COMPLETED', completed_at = now() - interval '10 days'"
        " WHERE command_id = %s",
        (int(ids[2]),),
    )
    # a dry run counts and deletes nothing
    dry = pgqueue("prune", "--dsn", dsn, "--older-than", "7d", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "would prune 1 command(s)" in dry.stdout and "nothing deleted" in dry.stdout
    assert status_counts(db) == {"PENDING": 1, "CANCELLED": 1, "COMPLETED": 1}
    pruned = pgqueue("prune", "--dsn", dsn, "--older-than", "7d")
    assert pruned.returncode == 0, pruned.stderr
    assert "pruned 1" in pruned.stdout
    assert status_counts(db) == {"PENDING": 1, "CANCELLED": 1}


def test_prune_refuses_a_noetl_table_without_yes(dsn: str, db: Conn) -> None:
    db.execute("COMMENT ON TABLE noetl.command IS NULL")  # as if NoETL had created it
    refused = pgqueue("prune", "--dsn", dsn, "--older-than", "1d")
    assert refused.returncode == 2 and "--yes" in refused.stderr


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (["enqueue", "--step", "s", "--tool-kind", "", "--input", "{}"], 2, "tool_kind"),
        (["enqueue", "--step", "s", "--tool-kind", "k", "--input", "[1]"], 2, "input"),
        (["enqueue", "--step", "s", "--tool-kind", "k", "--input", "{oops"], 2, "not valid JSON"),
        (["worker", "--concurrency", "0"], 2, "at least 1"),
        (["worker", "--prefetch", "-1"], 2, "must not be negative"),
        (["prune", "--older-than", "soon"], 2, "not a duration"),
    ],
)
def test_bad_input_is_one_clear_line(
    dsn: str, db: Conn, args: list[str], code: int, says: str
) -> None:
    done = pgqueue(*args, "--dsn", dsn)
    assert done.returncode == code
    assert says in done.stderr
    assert "Traceback" not in done.stderr
    assert status_counts(db) == {}


def test_unreachable_database_is_one_line_with_the_password_masked() -> None:
    done = pgqueue("status", "--dsn", "postgresql://alice:hunter2@127.0.0.1:1/db?connect_timeout=2")
    assert done.returncode == 3
    assert "cannot reach the database" in done.stderr
    assert "hunter2" not in done.stderr + done.stdout
    assert "****" in done.stderr
    assert "Traceback" not in done.stderr
    warning, error = done.stderr.strip().splitlines()  # the error itself is one line
    assert "cannot reach the database" in error
    # a password on the command line shows in ps: said once, without the password
    assert "warning: --dsn carries a password" in warning and "PGPASSFILE" in warning


def test_a_dsn_without_a_password_gets_no_warning() -> None:
    done = pgqueue("status", "--dsn", "postgresql://alice@127.0.0.1:1/db?connect_timeout=2")
    assert done.returncode == 3
    assert "warning" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_the_help_says_how_to_keep_a_password_out_of_ps() -> None:
    done = pgqueue("--help")
    assert done.returncode == 0
    for way in ("PGPASSFILE", "PGQUEUE_DSN", "service"):
        assert way in done.stdout
    assert "130" in done.stdout


def test_the_http_tool_is_off_unless_hosts_are_given() -> None:
    from pgqueue.app import WorkerApp
    from pgqueue.settings import WorkerSettings

    pool: Any = psycopg_pool.AsyncConnectionPool("", open=False)
    plain = WorkerApp(WorkerSettings())._build(pool, pool, None)
    assert "http" not in plain.tools.kinds
    assert set(plain.tools.kinds) == {"noop", "sleep"}
    allowed = WorkerApp(WorkerSettings(http_allow_host=["api.x"]))._build(pool, pool, None)
    assert "http" in allowed.tools.kinds


def test_no_database_configured() -> None:
    done = pgqueue("status")
    assert done.returncode == 3 and "no database configured" in done.stderr


def test_a_database_without_the_schema_says_to_migrate(empty_dsn: str) -> None:
    done = pgqueue("status", "--dsn", empty_dsn)
    assert done.returncode == 4
    assert "pgqueue migrate" in done.stderr


def test_help_reads_well() -> None:
    done = pgqueue("--help")
    assert done.returncode == 0
    for verb in ("migrate", "enqueue", "worker", "status", "requeue", "cancel", "prune", "demo"):
        assert verb in done.stdout
    assert "PGQUEUE_DSN" in done.stdout


@pytest.mark.slow
def test_demo_with_a_dsn(dsn: str) -> None:
    done = pgqueue("demo", "--dsn", dsn, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "parked as FAILED" in done.stdout
    with psycopg.connect(dsn) as conn:
        counts = dict(
            conn.execute(
                "SELECT status, count(*) FROM pgqueue_demo.command GROUP BY status"
            ).fetchall()
        )
        assert counts == {"COMPLETED": 59, "FAILED": 1}
        # the demo never touches noetl.command
        assert conn.execute("SELECT count(*) FROM noetl.command").fetchone() == (0,)
    assert f"Migrated schema pgqueue_demo to {migrate.head()}." in done.stdout
    # its closing hint works as printed
    hint = "pgqueue requeue --all --schema pgqueue_demo"
    assert hint in done.stdout
    again = pgqueue(*hint.split()[1:], "--dsn", dsn)
    assert again.returncode == 0 and "requeued 1" in again.stdout, again.stderr


@pytest.mark.slow
def test_demo_with_no_database_configured_uses_the_embedded_server() -> None:
    done = pgqueue("demo", "--commands", "20", timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "embedded PostgreSQL" in done.stdout
    assert "19 completed" in done.stdout
    # no hint that cannot work once the embedded server is gone
    assert "The embedded server stops with the demo" in done.stdout
    assert "requeue --all" not in done.stdout
    # the data directory and what pgqueue created above it are private
    from pgqueue.cli.embedded import cache_base

    # one per major version (another Python's demo may have made its own)
    shown = re.search(r"data directory (\S+)", done.stdout)
    assert shown is not None
    datadir = Path(shown.group(1).replace("~", str(Path.home()), 1))
    assert datadir.parent == cache_base() and datadir.name.startswith("pgdata-demo-")
    for path in (datadir, cache_base()):
        assert stat.S_IMODE(path.stat().st_mode) == 0o700, path


@pytest.mark.slow
def test_demo_falls_back_to_embedded_when_the_configured_database_is_unreachable() -> None:
    stale = "postgresql://app:s3cret@127.0.0.1:1/gone?connect_timeout=2"
    done = pgqueue("demo", "--commands", "10", env=env(DATABASE_URL=stale), timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "DATABASE_URL is set, but cannot reach the database" in done.stdout
    assert "s3cret" not in done.stdout + done.stderr
    assert "embedded PostgreSQL" in done.stdout


def test_demo_with_an_explicit_unreachable_dsn_fails_clearly() -> None:
    done = pgqueue("demo", "--dsn", "postgresql://app:s3cret@127.0.0.1:1/gone?connect_timeout=2")
    assert done.returncode == 3
    assert "cannot reach the database" in done.stderr and "s3cret" not in done.stderr


def test_worker_settles_its_heap_once_started(dsn: str) -> None:
    """`pgqueue worker` freezes its start-up heap (see `pgqueue.runtime`)."""
    worker = pgqueue("worker", "-vv", "--dsn", dsn, "--until-empty")
    assert worker.returncode == 0, worker.stderr
    assert "start-up heap frozen" in worker.stderr
    assert "action=settle_heap" in worker.stderr


def test_a_tools_module_of_the_current_directory_imports(
    dsn: str, db: psycopg.Connection[Any], tmp_path: Path
) -> None:
    # the README's own example, from the app's directory, through the console
    # script (whose path, unlike `python -m`'s, holds no current directory)
    (tmp_path / "myapp").mkdir()
    (tmp_path / "myapp" / "__init__.py").write_text("")
    (tmp_path / "myapp" / "tools.py").write_text(
        "async def hello(command, ctx):\n    return {'hello': command.input['who']}\n"
        "TOOLS = {'hello': hello}\n"
    )
    (command_id,) = enqueue_many_sync(
        db, [{"step": "s", "tool_kind": "hello", "input": {"who": "you"}}]
    )
    script = Path(sys.executable).with_name("pgqueue")
    done = subprocess.run(
        [str(script), "worker", "--dsn", dsn, "--tools", "myapp.tools", "--until-empty"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env(),
    )
    assert done.returncode == 0, done.stderr
    assert row(db, command_id)["result"] == {"hello": "you"}


@pytest.mark.slow
@pytest.mark.skipif(
    os.geteuid() != 0, reason="the binaries are copied for the service user as root only"
)
def test_an_embedded_start_as_root_removes_the_copies_of_replaced_installs() -> None:
    from pgqueue.cli.embedded import cache_base, start_embedded

    # this Python's embedded package (another Python's copies are left alone)
    package = "pgserver" if sys.version_info < (3, 12) else "pgembed"
    server = start_embedded("copies")
    try:
        (current,) = cache_base().glob(f"build-{package}-*")
        replaced = cache_base() / f"build-{package}-1"
        (replaced / "bin").mkdir(parents=True)
        server.stop()
        server = start_embedded("copies")
        assert sorted(cache_base().glob(f"build-{package}-*")) == [current]  # the old one gone
    finally:
        server.stop()


def test_demo_never_drops_a_schema_it_did_not_create(dsn: str) -> None:
    """`pgqueue demo --schema public` dropped the user's schema and its tables."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE public.orders (id int)")
        conn.execute("CREATE SCHEMA app")
        conn.execute("CREATE TABLE app.users (id int)")
    for schema in ("public", "app", "noetl"):
        done = pgqueue("demo", "--dsn", dsn, "--schema", schema, "--commands", "5")
        assert done.returncode == 2, done.stdout + done.stderr
        line = done.stderr.strip()
        assert "\n" not in line and f"schema {schema}" in line and "not made by" in line, line
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT to_regclass('public.orders')").fetchone() != (None,)
        assert conn.execute("SELECT to_regclass('app.users')").fetchone() != (None,)
        assert conn.execute("SELECT to_regclass('noetl.command')").fetchone() != (None,)
    assert "only drops a schema it created" in " ".join(pgqueue("demo", "--help").stdout.split())


@pytest.mark.slow
def test_demo_reruns_in_its_own_schema_and_a_new_name(dsn: str) -> None:
    for _ in range(2):
        done = pgqueue("demo", "--dsn", dsn, "--schema", "my_demo", "--commands", "5")
        assert done.returncode == 0, done.stdout + done.stderr
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT count(*) FROM my_demo.command").fetchone() == (5,)


def test_cancel_takes_filters_as_requeue_does(dsn: str) -> None:
    with psycopg.connect(dsn) as conn:
        enqueue_many_sync(
            conn,
            [
                {"step": "a", "tool_kind": "slow", "input": {}},
                {"step": "b", "tool_kind": "slow", "input": {}},
                {"step": "c", "tool_kind": "fast", "input": {}},
            ],
        )
        conn.commit()
    nothing = pgqueue("cancel", "--dsn", dsn)
    assert nothing.returncode == 2 and "say which unfinished commands" in nothing.stderr
    done = pgqueue("cancel", "--dsn", dsn, "--tool-kind", "slow", "--reason", "incident")
    assert done.returncode == 0, done.stderr
    assert "cancelled 2 command(s)" in done.stdout
    with psycopg.connect(dsn) as conn:
        rows = dict(conn.execute("SELECT step_name, status FROM noetl.command").fetchall())
    assert rows == {"a": "CANCELLED", "b": "CANCELLED", "c": "PENDING"}

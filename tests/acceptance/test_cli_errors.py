"""Every mistake a user makes gets one line on stderr naming what is wrong, and
the documented exit code (2 bad input, 3 database unreachable, 4 not migrated);
never a traceback, and nothing written."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pgqueue import enqueue_many_sync, enqueue_sync, migrate
from tests.acceptance.cli import env, pgqueue
from tests.helpers import status_counts

#: tools modules a user may get wrong
MODULES = {
    "badimport": 'raise RuntimeError("boom")\n',
    "badsyntax": "def f(:\n",
    "blank": "async def f(c, x):\n    return 1\nTOOLS = {'': f}\n",
    "notcallable": "TOOLS = {'k': 42}\n",
}


def one_line(done: subprocess.CompletedProcess[str], code: int, *expected: str) -> None:
    lines = done.stderr.strip().splitlines()
    assert done.returncode == code, done.stderr
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    for text in expected:
        assert text in lines[0], lines[0]


@pytest.fixture
def app(tmp_path: Path) -> Path:
    for name, text in MODULES.items():
        (tmp_path / f"{name}.py").write_text(text)
    return tmp_path


@pytest.mark.parametrize(
    ("module", "expected"),
    [
        ("badimport", "--tools badimport: RuntimeError: boom"),
        ("badsyntax", "--tools badsyntax: SyntaxError: invalid syntax (badsyntax.py, line 1)"),
        ("blank", "--tools blank: a tool kind must not be blank"),
        ("notcallable", "--tools notcallable: the tool for kind 'k' is an int, not a function"),
    ],
)
def test_a_tools_module_that_cannot_be_used_is_one_line(
    dsn: str, app: Path, module: str, expected: str
) -> None:
    done = pgqueue(
        "worker", "--dsn", dsn, "--tools", module, "--until-empty", env=env(PYTHONPATH=str(app))
    )
    one_line(done, 2, expected)


def test_a_worker_on_an_unmigrated_database_exits_4(empty_dsn: str) -> None:
    done = pgqueue("worker", "--dsn", empty_dsn, "--until-empty", timeout=60)
    one_line(done, 4, "not migrated", "pgqueue migrate")


def test_a_worker_on_a_schema_behind_this_pgqueue_exits_4(empty_dsn: str) -> None:
    assert pgqueue("migrate", "--dsn", empty_dsn, "--revision", "0007").returncode == 0
    done = pgqueue("worker", "--dsn", empty_dsn, "--until-empty", "--schema-wait", "1s", timeout=60)
    lines = done.stderr.strip().splitlines()
    assert "waiting up to 1s for it to reach" in lines[0]  # said once, then
    done.stderr = lines[-1]
    one_line(done, 4, "at 0007", f"needs {migrate.head()}", "pgqueue migrate")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("worker", "--retention", "7days"), "--retention: '7days' is not a duration"),
        (("worker", "--lease", "0s"), "--lease: must be more than 0"),
        (("worker", "--timeout", "0"), "--timeout: 0 would stop every command at once"),
        (("worker", "--poll-interval", "0"), "--poll-interval: must be more than 0"),
        (("enqueue", "--step", "s", "--tool-kind", "k", "--delay", "-5s"), "--delay: '-5s'"),
        (
            ("enqueue", "--step", "s", "--tool-kind", "k", "--delay", "99999999999d"),
            "--delay: '99999999999d' is too long",
        ),
        (("enqueue", "--jsonl", "/nope/x.jsonl"), "--jsonl /nope/x.jsonl: No such file"),
        (("status", "--dsn", "host=127.0.0.1 dbname"), "invalid DSN"),
    ],
)
def test_bad_flags_are_refused_before_connecting(args: tuple[str, ...], expected: str) -> None:
    # a database nobody could reach: the flag must be refused first
    dsn = ("--dsn", "host=127.0.0.1 port=1") if "--dsn" not in args else ()
    done = pgqueue(*args, *dsn)
    one_line(done, 2, expected)


def test_jsonl_errors_name_the_line_and_input_is_optional_as_with_flags(
    dsn: str, db: psycopg.Connection[Any], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        '{"step": "a", "tool_kind": "k"}\n\n{"step": "b", "tool_kind": "k"}\n{"step": "c"}\n'
    )
    one_line(pgqueue("enqueue", "--dsn", dsn, "--jsonl", str(bad)), 2, "line 4: tool_kind: ")
    assert status_counts(db) == {}  # nothing written
    good = tmp_path / "good.jsonl"
    good.write_text('{"step": "a", "tool_kind": "k"}\n')
    assert pgqueue("enqueue", "--dsn", dsn, "--jsonl", str(good)).returncode == 0
    assert pgqueue("enqueue", "--dsn", dsn, "--step", "a", "--tool-kind", "k").returncode == 0
    assert status_counts(db) == {"PENDING": 2}


def test_a_refused_login_says_so_rather_than_unreachable(dsn: str) -> None:
    done = pgqueue("status", "--dsn", dsn + " user=nobody_at_all")
    one_line(done, 3, "refused the connection", 'role "nobody_at_all" does not exist')
    assert "cannot reach" not in done.stderr


def test_requeue_of_a_command_that_is_not_failed_says_why(
    dsn: str, db: psycopg.Connection[Any]
) -> None:
    (command_id,) = enqueue_many_sync(db, [{"step": "s", "tool_kind": "k", "input": {}}])
    done = pgqueue("requeue", "--dsn", dsn, command_id)
    assert done.returncode == 1
    assert f"command {command_id} is PENDING, not FAILED" in done.stdout + done.stderr
    missing = pgqueue("requeue", "--dsn", dsn, "12345")
    assert "no command 12345" in missing.stdout + missing.stderr


def test_prune_says_its_window_as_it_was_given(dsn: str) -> None:
    done = pgqueue("prune", "--dsn", dsn, "--older-than", "7d")
    assert done.returncode == 0, done.stderr
    assert "finished more than 7d ago" in done.stdout


def test_every_option_of_every_verb_has_help() -> None:
    import argparse

    from pgqueue.cli.parser import parser

    def check(prog: str, p: argparse.ArgumentParser) -> None:
        for action in p._actions:
            assert action.help, f"{prog} {action.option_strings or action.dest}: no help"
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    check(f"{prog} {name}", sub)  # limit set, limit list…

    top = parser()
    verbs = next(a for a in top._actions if isinstance(a, argparse._SubParsersAction))
    for verb, sub in verbs.choices.items():
        check(f"pgqueue {verb}", sub)


def test_show_prints_one_command_with_its_history(dsn: str, db: psycopg.Connection[Any]) -> None:
    (command_id,) = enqueue_many_sync(db, [{"step": "greet", "tool_kind": "noop", "input": {}}])
    assert pgqueue("worker", "--dsn", dsn, "--until-empty").returncode == 0
    shown = pgqueue("show", "--dsn", dsn, command_id)
    assert shown.returncode == 0, shown.stderr
    expected = (f"command {command_id}", "COMPLETED", "greet", "failed attempts")
    expected += ("0 (of 5 allowed)",)
    for text in expected:
        assert text in shown.stdout
    data = json.loads(pgqueue("show", "--dsn", dsn, command_id, "--json").stdout)
    assert data["status"] == "COMPLETED" and data["command_id"] == command_id
    one_line(pgqueue("show", "--dsn", dsn, "42"), 1, "no command 42")


def test_every_worker_flag_is_settable_from_the_environment(
    dsn: str, db: psycopg.Connection[Any]
) -> None:
    enqueue_many_sync(db, [{"step": "s", "tool_kind": "noop", "input": {}}] * 3)
    done = pgqueue(
        "worker",
        "--dsn",
        dsn,
        env=env(
            PGQUEUE_UNTIL_EMPTY="yes",
            PGQUEUE_WORKER_ID="from-env",
            PGQUEUE_TOOL_KINDS="noop sleep",
            PGQUEUE_CONCURRENCY="2",
            PGQUEUE_LEASE="5s",
        ),
    )
    assert done.returncode == 0, done.stderr
    assert "worker from-env stopped" in done.stdout
    assert status_counts(db) == {"COMPLETED": 3}
    # a value the flag would refuse is refused the same way, naming the variable
    one_line(
        pgqueue("worker", "--dsn", dsn, env=env(PGQUEUE_LEASE="0s")), 2, "PGQUEUE_LEASE: must be"
    )
    one_line(
        pgqueue("worker", "--dsn", dsn, env=env(PGQUEUE_UNTIL_EMPTY="maybe")),
        2,
        "PGQUEUE_UNTIL_EMPTY: 'maybe' is not a switch value",
    )
    # the flag wins over its variable
    flagged = pgqueue(
        "worker",
        "--dsn",
        dsn,
        "--worker-id",
        "from-flag",
        "--until-empty",
        env=env(PGQUEUE_WORKER_ID="from-env"),
    )
    assert "worker from-flag stopped" in flagged.stdout


def test_until_empty_waits_for_a_retry_due_within_a_lease(dsn: str) -> None:
    """`worker --until-empty` exited while a retry was due within seconds, and
    blamed "no live worker" for the command it left."""
    with psycopg.connect(dsn) as conn:
        enqueue_sync(conn, step="s", tool_kind="fail_first", input={})
        # and one due well beyond a lease: left, and said to be left for later
        enqueue_sync(conn, step="later", tool_kind="nap", input={}, delay=3600)
        conn.commit()
    done = pgqueue(
        "worker", "--dsn", dsn, "--tools", "tests.fixtures.tools", "--until-empty", timeout=120
    )
    assert done.returncode == 0, done.stderr
    with psycopg.connect(dsn) as conn:
        rows = dict(conn.execute("SELECT step_name, status FROM noetl.command").fetchall())
        attempts = conn.execute(
            "SELECT attempts FROM noetl.command WHERE step_name = 's'"
        ).fetchone()
    assert rows == {"s": "COMPLETED", "later": "PENDING"}
    assert attempts == (1,)  # the retry ran, in this run
    assert "served by no live worker" not in done.stderr, done.stderr
    assert "left 1 PENDING command(s) of kind 'nap', due later" in done.stderr, done.stderr


def test_the_rough_edges_a_new_user_met_are_one_line_each(tmp_path: Path) -> None:
    cases = {
        # a misspelt flag gets the flag it most looks like
        ("worker", "--concurency", "4"): "unrecognized arguments: --concurency 4 (did you "
        "mean --concurrency?)",
        # a bare number where it would mean seconds of retention
        ("prune", "--older-than", "7"): "--older-than: '7' has no unit",
        ("worker", "--retention", "0"): "--retention: '0' has no unit",
        ("worker", "--retention", "0s"): "--retention: '0s' would delete every finished command",
        ("worker", "--metrics-port", "70000"): "--metrics-port: '70000' is not a port",
        ("status", "--failures", "-1"): "--failures: '-1' must not be negative",
    }
    for args, said in cases.items():
        done = pgqueue(*args)
        lines = done.stderr.strip().splitlines()
        assert done.returncode in (2, 3), (args, done.stderr)
        assert len(lines) == 1 and "Traceback" not in done.stderr, (args, done.stderr)
        assert said in lines[0], (args, lines[0])
    # --jsonl takes each command whole: a flag for one command beside it is refused
    jsonl = tmp_path / "c.jsonl"
    jsonl.write_text('{"step": "a", "tool_kind": "b"}\n')
    done = pgqueue("enqueue", "--jsonl", str(jsonl), "--step", "x")
    assert done.returncode == 2 and "--step is not used with it" in done.stderr
    # and its fields are documented where it is
    assert "loop_event_id" in pgqueue("enqueue", "--help").stdout
    # an input too large for a command is refused before anything is sent
    big = tmp_path / "big.json"
    with big.open("wb") as f:
        f.truncate(65 * 1024 * 1024)
    done = pgqueue("enqueue", "--step", "s", "--tool-kind", "k", "--input", f"@{big}")
    assert done.returncode == 2 and "more than a command carries" in done.stderr
    # a worker's variable that its flag refuses is the worker's trouble, not status's
    done = pgqueue(
        "status",
        "--dsn",
        "postgresql://127.0.0.1:1/x?connect_timeout=1",
        env=env(PGQUEUE_CONCURRENCY="abc"),
    )
    assert "PGQUEUE_CONCURRENCY" not in done.stderr and done.returncode == 3
    done = pgqueue("worker", env=env(PGQUEUE_CONCURRENCY="abc"))
    assert done.returncode == 2
    assert done.stderr.strip() == "pgqueue worker: PGQUEUE_CONCURRENCY: 'abc' is not a whole number"


def test_migrate_to_a_revision_it_does_not_know_is_one_line(empty_dsn: str) -> None:
    done = pgqueue("migrate", "--dsn", empty_dsn, "--revision", "9999")
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().startswith("pgqueue migrate: --revision: Can't locate revision")
    assert len(done.stderr.strip().splitlines()) == 1


def test_the_postgres_tools_database_is_checked_at_start(dsn: str) -> None:
    """A bad --postgres-tool-dsn was not checked at start: each command then
    waited 30 s for a pool that never came, naming no DSN."""
    done = pgqueue(
        "worker",
        "--dsn",
        dsn,
        "--enable-postgres-tool",
        "--postgres-tool-dsn",
        "postgresql://127.0.0.1:1/tools?connect_timeout=2",
        "--until-empty",
        timeout=60,
    )
    assert done.returncode == 3, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("pgqueue worker: --postgres-tool-dsn: cannot reach the database at")
    assert "127.0.0.1:1/tools" in line


def test_under_json_logs_every_line_is_json_errors_and_retries_included(dsn: str) -> None:
    with psycopg.connect(dsn) as conn:
        enqueue_sync(conn, step="s", tool_kind="fail_first", input={})
        conn.commit()
    done = pgqueue(
        "worker",
        "--dsn",
        dsn,
        "--tools",
        "tests.fixtures.tools",
        "--until-empty",
        "--log-format",
        "json",
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stderr.splitlines()]  # every line JSON
    retried = [x for x in lines if x.get("action") == "nack"]
    # the retry says when it is due again, not the run's time read as a delay
    assert retried and "due again at" in retried[0]["message"] and "due_at" in retried[0]
    assert any(x.get("action") == "summary" for x in lines)
    # a fatal error too
    failed = pgqueue("worker", "--dsn", dsn, "--concurrency", "0", "--log-format", "json")
    assert failed.returncode == 2
    failed = pgqueue(
        "worker",
        "--dsn",
        "postgresql://127.0.0.1:1/x?connect_timeout=2",
        "--log-format",
        "json",
    )
    assert failed.returncode == 3
    (line,) = failed.stderr.strip().splitlines()
    entry = json.loads(line)
    assert entry["level"] == "ERROR" and "cannot reach the database" in entry["message"]

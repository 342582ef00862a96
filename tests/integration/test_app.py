"""The composition root: `WorkerSettings` validated once, naming the field, and
the README's embedding example run as written (a DSN of this test's)."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import timedelta
from typing import Any

import psycopg
import pytest

from pgqueue import ConfigurationError, enqueue_many_sync, migrate
from pgqueue.app import WorkerApp
from pgqueue.db.table import QueueTable
from pgqueue.settings import WorkerSettings, build
from tests.acceptance.cli import env
from tests.conftest import ROOT


def test_the_settings_take_what_the_flags_take() -> None:
    settings = WorkerSettings.from_environ(
        {
            "PGQUEUE_LEASE": "10s",
            "PGQUEUE_TOOL_KINDS": "a, b",
            "PGQUEUE_UNTIL_EMPTY": "yes",
            "PGQUEUE_RETENTION": "7d",
            "PGQUEUE_TIMEOUT": "none",
            "PGQUEUE_SCHEMA": "app",
        },
        concurrency=3,
    )
    assert settings.lease == timedelta(seconds=10)
    assert settings.tool_kinds == ["a", "b"]
    assert settings.until_empty is True
    assert settings.retention == timedelta(days=7)
    assert settings.timeout is None
    assert settings.schema_name == "app"
    assert settings.concurrency == 3


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"concurrency": 0}, "concurrency: Input should be greater than or equal to 1"),
        ({"metrics_port": 70000}, "metrics_port: Input should be less than or equal to 65535"),
        ({"retention": "7"}, "retention: '7' has no unit"),
        ({"retention": "0d"}, "retention: would delete every finished command"),
        ({"lease": "0s"}, "lease: must be more than 0"),
        ({"timeout": "0s"}, "timeout: would stop every command at once"),
        ({"concurency": 3}, "concurency: no such setting (did you mean concurrency?)"),
        ({"postgres_tool_dsn": "host=x"}, "enable_postgres_tool is not"),
    ],
)
def test_a_bad_setting_is_one_line_naming_its_field(values: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        build(values)
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_a_bad_variable_is_named_as_the_variable() -> None:
    with pytest.raises(ConfigurationError, match=r"^PGQUEUE_CONCURRENCY: "):
        WorkerSettings.from_environ({"PGQUEUE_CONCURRENCY": "abc"})


async def test_the_app_refuses_a_tool_kind_it_has_no_tool_for(dsn: str) -> None:
    settings = WorkerSettings(dsn=dsn, tool_kinds=["noop", "typo"], until_empty=True)
    with pytest.raises(ConfigurationError, match="tool_kinds typo: no tool for it"):
        async with WorkerApp(settings):
            pass


def test_the_readme_example_runs_the_whole_worker(dsn: str, empty_dsn: str) -> None:
    readme = (ROOT / "README.md").read_text()
    found = re.search(
        r"<!-- example: embedded worker[^>]*-->\n```python\n(.*?)```", readme, re.DOTALL
    )
    assert found is not None
    code = found.group(1)
    assert '"postgresql://worker@db.internal/app"' in code and "metrics_port=9100" in code
    code = code.replace('"postgresql://worker@db.internal/app"', repr(empty_dsn))
    code = code.replace("metrics_port=9100", "metrics_port=0")
    migrate.upgrade(empty_dsn, schema="app_queue")
    with psycopg.connect(empty_dsn) as conn:
        enqueue_many_sync(
            conn,
            [{"step": "s", "tool_kind": "resize", "input": {"width": w}} for w in (10, 20)],
            table=QueueTable("app_queue"),
        )
        conn.commit()
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "'completed': 2" in done.stdout, done.stdout
    with psycopg.connect(empty_dsn) as conn:
        results = conn.execute(
            "SELECT result FROM app_queue.command ORDER BY result->>'width'"
        ).fetchall()
    assert [r[0] for r in results] == [{"width": 10}, {"width": 5}]

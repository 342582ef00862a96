"""Waiting on conditions with bounded backoff (never a bare sleep as synchronisation),
and reading the queue table for assertions."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import zipfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import psycopg

T = TypeVar("T")


def wait_until(predicate: Callable[[], T], *, timeout: float = 30.0, what: str = "condition") -> T:
    """Poll ``predicate`` with backoff (10 ms doubling to 500 ms) until it is truthy."""
    deadline = time.monotonic() + timeout
    delay = 0.01
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(delay)
        delay = min(delay * 2, 0.5)


async def wait_until_async(
    predicate: Callable[[], Awaitable[T]], *, timeout: float = 30.0, what: str = "condition"
) -> T:
    deadline = time.monotonic() + timeout
    delay = 0.01
    while True:
        value = await predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.5)


def row(conn: psycopg.Connection[Any], command_id: int | str) -> dict[str, Any]:
    """One command's row as a dict."""
    with conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        cur.execute("SELECT * FROM noetl.command WHERE command_id = %s", (int(command_id),))
        found = cur.fetchone()
    assert found is not None, f"no row for command {command_id}"
    return found


def add_rows(
    conn: psycopg.Connection[Any], first: int, last: int, *, status: str = "PENDING"
) -> None:
    """Commands ``first`` to ``last`` (each its own execution, tool kind ``noop``),
    in one statement; a finished status gets ``completed_at``."""
    conn.execute(
        """
        INSERT INTO noetl.command (execution_id, command_id, step_name, tool_kind, status,
                                   context, completed_at)
        SELECT g, g, 's', 'noop', %(status)s, '{}',
               CASE WHEN %(status)s IN ('COMPLETED', 'FAILED', 'CANCELLED') THEN now() END
        FROM generate_series(%(first)s::bigint, %(last)s::bigint) g
        """,
        {"status": status, "first": first, "last": last},
    )


def status_counts(conn: psycopg.Connection[Any]) -> dict[str, int]:
    return {
        status: count
        for status, count in conn.execute(
            "SELECT status, count(*) FROM noetl.command GROUP BY status"
        ).fetchall()
    }


def snapshot(conn: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    """Every row, every column, in key order: for 'nothing changed' assertions."""
    return conn.execute(
        "SELECT to_jsonb(c) FROM noetl.command c ORDER BY execution_id, command_id"
    ).fetchall()


def build_wheel(source: Path, into: Path) -> Path:
    """pgqueue's wheel, built from ``source`` (no dependencies, no isolation: the
    test environment has the build tools), unpacked into ``into``/site; that
    directory, for ``PYTHONPATH``."""
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(into / "dist"),
            str(source),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = (into / "dist").glob("noetl_pgqueue-*.whl")
    site = into / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    return site

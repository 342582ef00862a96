"""Statements run on a caller's own connection, as an I/O-free plan, each under
the enqueue deadline (`pgqueue.db.deadlines`), the caller's own limits put back
after it.

`enqueue` writes inside the caller's transaction, on a sync or an async psycopg
connection. So that its logic is written once, it is a generator (a *plan*)
that yields the statements to run, one `Step` at a time, and is sent each
step's result; `run_plan` and `run_plan_sync` only drive it, and translate any
psycopg error on the way out. Nothing here commits: the caller's transaction
decides.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import psycopg
from psycopg import sql

from pgqueue.db import statements
from pgqueue.db.deadlines import DEFAULT_DEADLINES, Deadline
from pgqueue.db.translate import translate

R = TypeVar("R")

#: the deadline of a caller's enqueue
LIMITS: Deadline = DEFAULT_DEADLINES.enqueue


def _limits() -> tuple[sql.Composed, dict[str, str], sql.Composed]:
    statement_timeout, lock_timeout = LIMITS.settings
    return (
        statements.render("enqueue_limits", "", ""),
        {"statement_timeout": statement_timeout, "lock_timeout": lock_timeout},
        statements.render("enqueue_limits_restore", "", ""),
    )


@dataclass(frozen=True, slots=True)
class Execute:
    """Run ``statement``; its rows are sent back."""

    statement: sql.Composed
    params: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Overlap:
    """Run ``statement`` and, while the server works on it, ``meanwhile()`` here;
    ``(rows, meanwhile's result)`` is sent back."""

    statement: sql.Composed
    params: dict[str, Any]
    meanwhile: Callable[[], Any]


@dataclass(frozen=True, slots=True)
class Copy:
    """``COPY … FROM STDIN`` the ``rows``; ``None`` is sent back."""

    statement: sql.Composed
    rows: Iterator[tuple[Any, ...]]


Step = Execute | Overlap | Copy
Plan = Generator[Step, Any, R]


async def run_plan(conn: psycopg.AsyncConnection[Any], plan: Plan[R]) -> R:
    """Drive ``plan`` on an async connection; its return value."""
    limit, params, restore = _limits()
    try:
        async with conn.cursor() as cur, conn.cursor() as setter:
            step = next(plan)
            while True:
                result: Any
                if isinstance(step, Copy):
                    # COPY cannot be pipelined: in a transaction of its own if the
                    # caller has none, so its limits hold for it
                    async with contextlib.AsyncExitStack() as own:
                        if conn.autocommit:
                            await own.enter_async_context(conn.transaction())
                        await setter.execute(limit, params)
                        async with cur.copy(step.statement) as copy:
                            for row in step.rows:
                                await copy.write_row(row)
                        await setter.execute(restore)
                    result = None
                else:
                    # the limits, the statement and the restore in one round trip
                    async with conn.pipeline():
                        await setter.execute(limit, params)
                        await cur.execute(step.statement, step.params)  # sent, not awaited
                        await setter.execute(restore)
                        meanwhile = step.meanwhile() if isinstance(step, Overlap) else None
                    rows = await cur.fetchall()
                    result = (rows, meanwhile) if isinstance(step, Overlap) else rows
                step = plan.send(result)
    except StopIteration as done:
        value: R = done.value
        return value
    except psycopg.Error as exc:
        raise translate(exc) from exc


def run_plan_sync(conn: psycopg.Connection[Any], plan: Plan[R]) -> R:
    """`run_plan` for a sync connection: the same steps, driven without await."""
    limit, params, restore = _limits()
    try:
        with conn.cursor() as cur, conn.cursor() as setter:
            step = next(plan)
            while True:
                result: Any
                if isinstance(step, Copy):
                    with contextlib.ExitStack() as own:
                        if conn.autocommit:
                            own.enter_context(conn.transaction())
                        setter.execute(limit, params)
                        with cur.copy(step.statement) as copy:
                            for row in step.rows:
                                copy.write_row(row)
                        setter.execute(restore)
                    result = None
                else:
                    # the limits, the statement and the restore in one round trip
                    with conn.pipeline():
                        setter.execute(limit, params)
                        cur.execute(step.statement, step.params)  # sent, not awaited
                        setter.execute(restore)
                        meanwhile = step.meanwhile() if isinstance(step, Overlap) else None
                    rows = cur.fetchall()
                    result = (rows, meanwhile) if isinstance(step, Overlap) else rows
                step = plan.send(result)
    except StopIteration as done:
        value: R = done.value
        return value
    except psycopg.Error as exc:
        raise translate(exc) from exc

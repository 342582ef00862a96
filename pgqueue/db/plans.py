"""Statements run on a caller's own connection, as an I/O-free plan.

`enqueue` writes inside the caller's transaction, on a sync or an async psycopg
connection. So that its logic is written once, it is a generator (a *plan*)
that yields the statements to run, one `Step` at a time, and is sent each
step's result; `run_plan` and `run_plan_sync` only drive it, and translate any
psycopg error on the way out. Nothing here commits: the caller's transaction
decides.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import psycopg
from psycopg import sql

from pgqueue.db.translate import translate

R = TypeVar("R")


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
    try:
        async with conn.cursor() as cur:
            step = next(plan)
            while True:
                result: Any
                if isinstance(step, Execute):
                    await cur.execute(step.statement, step.params)
                    result = await cur.fetchall()
                elif isinstance(step, Overlap):
                    async with conn.pipeline():
                        await cur.execute(step.statement, step.params)  # sent, not awaited
                        meanwhile = step.meanwhile()
                    result = (await cur.fetchall(), meanwhile)
                else:
                    async with cur.copy(step.statement) as copy:
                        for row in step.rows:
                            await copy.write_row(row)
                    result = None
                step = plan.send(result)
    except StopIteration as done:
        value: R = done.value
        return value
    except psycopg.Error as exc:
        raise translate(exc) from exc


def run_plan_sync(conn: psycopg.Connection[Any], plan: Plan[R]) -> R:
    """`run_plan` for a sync connection: the same steps, driven without await."""
    try:
        with conn.cursor() as cur:
            step = next(plan)
            while True:
                result: Any
                if isinstance(step, Execute):
                    cur.execute(step.statement, step.params)
                    result = cur.fetchall()
                elif isinstance(step, Overlap):
                    with conn.pipeline():
                        cur.execute(step.statement, step.params)  # sent, not awaited
                        meanwhile = step.meanwhile()
                    result = (cur.fetchall(), meanwhile)
                else:
                    with cur.copy(step.statement) as copy:
                        for row in step.rows:
                            copy.write_row(row)
                    result = None
                step = plan.send(result)
    except StopIteration as done:
        value: R = done.value
        return value
    except psycopg.Error as exc:
        raise translate(exc) from exc

"""A tool's own transaction (``async with ctx.transaction() as conn``): the
command's completion is written in it, so it commits or rolls back with the
tool's writes, and the worker then writes nothing more for the command.

The worker sets `IN_FLIGHT` around each tool's run (a slot's task has its own
context): the claim, and what a completion writes besides the row (the
reports to the control plane, when the worker reports to one).
"""

from __future__ import annotations

import contextvars
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import psycopg

from pgqueue import finishing, jsonvalues
from pgqueue.db.table import QueueTable
from pgqueue.errors import ConfigurationError, PgQueueError
from pgqueue.models import Command
from pgqueue.outcomes import ClaimedRow


class NotInATool(PgQueueError):
    """``ctx.transaction()`` outside a tool the worker runs for a claimed command."""


def _none(claim: ClaimedRow, result_json: str) -> Sequence[str]:
    return ()


def _ignore(count: int) -> None:
    return None


@dataclass(eq=False, slots=True)
class InFlight:
    """The command a tool runs (the worker's `Running` is one), as its tool's
    logger and ``ctx.transaction()`` see it: one object and one context
    variable a command, whatever the tool uses."""

    command: Command
    #: the claim, when the command was claimed (``None``: a source without one)
    claim: ClaimedRow | None
    #: the outbox items a completion with this result JSON writes
    reports: Callable[[ClaimedRow, str], Sequence[str]] = _none
    #: told how many reports a committed completion wrote (the relay delivers)
    written: Callable[[int], None] = _ignore
    #: the command's result, as the tool set it (`ToolContext.set_result`)
    result: Any = None
    #: its completion was committed in the tool's transaction
    finished: bool = False
    #: what the tool last said of its progress (JSON), not yet written: the
    #: next heartbeat writes it
    progress: str | None = None


#: the command whose tool is running in this context (a slot's task, or the
#: thread of a plain function, which gets a copy of it)
IN_FLIGHT: contextvars.ContextVar[InFlight | None] = contextvars.ContextVar(
    "pgqueue_in_flight", default=None
)


def current() -> InFlight:
    flight = IN_FLIGHT.get()
    if flight is None or flight.claim is None:
        raise NotInATool(
            "ctx.transaction() and ctx.set_result() are for an async tool the worker runs"
            " for a claimed command"
        )
    return flight


@asynccontextmanager
async def transaction(
    pool: Any, table: QueueTable | None
) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    """A transaction on a connection of ``pool`` that ends with the command's
    completion: committed with it, or rolled back (the tool's writes and the
    completion) by an exception, or by `LeaseLost` when the claim no longer
    holds the command."""
    flight = current()
    claim = flight.claim
    assert claim is not None  # noqa: S101 - current() holds a claim
    if flight.finished:
        raise NotInATool("this command was finished in a transaction already")
    if pool is None:
        raise ConfigurationError("ctx.transaction() needs the worker's tool pool (ctx.pool)")
    async with pool.connection() as conn, conn.transaction():
        yield conn
        result_json = jsonvalues.dumps_checked(flight.result)
        reports = flight.reports(claim, result_json)
        await finishing.complete_reported(conn, claim, result_json, reports, table=table)
    flight.finished = True
    flight.written(len(reports))

"""Deadlines: every statement pgqueue runs has one, by its role.

A statement gets two server-side limits, set for its own implicit transaction
only (``set_config(…, true)`` in the same pipeline, one round trip, nothing left
on the session, so a pooled connection a tool borrows next, or a transaction
pooler's next client, sees its own settings):

- ``statement_timeout``: the server cancels the statement past it;
- ``lock_timeout``: the statement gives up waiting for a lock past it (a DDL
  queued in front of the table, a held row lock), instead of queueing every
  claim and completion behind it.

Neither helps when the backend cannot act at all (stopped, or the network
between half open: the client's socket stays quiet forever), so each statement
also has a client-side deadline, its statement timeout plus `CLIENT_MARGIN`:
past it the connection is dropped, the statement fails as a transient
`DatabaseUnavailable`, and the work is retried on another connection (a claim
comes back as `RetryLater`, a completion is written again). A wedged connection
costs at most one deadline.

The roles and their defaults (`Deadlines`): claims and completions are short
statements on the hot path (10 s, locks 2 s); a heartbeat must land well
within a lease (5 s, locks 1 s; it skips locked rows anyway); an enqueue may
be a bulk COPY of many rows (60 s, locks 5 s); an operator's statements
(status, cancel, requeue, prune) 5 minutes, locks 5 s.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from functools import lru_cache
from typing import Any, Literal

import psycopg
from psycopg import sql

from pgqueue.db import statements
from pgqueue.db.translate import DRIVER_ERRORS
from pgqueue.errors import DatabaseUnavailable

#: the extra time a client waits past a statement's own timeout before it
#: drops the connection: the server's cancel should have answered by then
CLIENT_MARGIN = timedelta(seconds=2)

Role = Literal["claim", "completion", "heartbeat", "enqueue", "operator"]


@dataclass(frozen=True, slots=True)
class Deadline:
    statement: timedelta
    lock: timedelta

    def __post_init__(self) -> None:
        if self.statement <= timedelta(0) or self.lock <= timedelta(0):
            raise ValueError("a deadline's statement and lock timeouts must be positive")

    @property
    def client_seconds(self) -> float:
        """When the client gives up on the connection, in seconds."""
        return (self.statement + CLIENT_MARGIN).total_seconds()

    @property
    def settings(self) -> tuple[str, str]:
        """``(statement_timeout, lock_timeout)`` as the server reads them."""
        return (_ms(self.statement), _ms(self.lock))


def _ms(value: timedelta) -> str:
    return f"{max(int(value.total_seconds() * 1000), 1)}ms"


def _seconds(statement: float, lock: float) -> Deadline:
    return Deadline(timedelta(seconds=statement), timedelta(seconds=lock))


@dataclass(frozen=True, slots=True)
class Deadlines:
    """The deadline of each role of statement."""

    claim: Deadline = field(default_factory=lambda: _seconds(10, 2))
    completion: Deadline = field(default_factory=lambda: _seconds(10, 2))
    heartbeat: Deadline = field(default_factory=lambda: _seconds(5, 1))
    enqueue: Deadline = field(default_factory=lambda: _seconds(60, 5))
    operator: Deadline = field(default_factory=lambda: _seconds(300, 5))

    def of(self, role: Role) -> Deadline:
        deadline: Deadline = getattr(self, role)
        return deadline


DEFAULT_DEADLINES = Deadlines()


@asynccontextmanager
async def deadline(conn: psycopg.AsyncConnection[Any], seconds: float) -> AsyncIterator[None]:
    """Drop ``conn`` if what runs inside takes longer than ``seconds``: a backend
    that answers nothing (stopped, half-open) never will, and psycopg's own
    cancellation would first wait for it. Raises a transient `DatabaseUnavailable`."""
    task = asyncio.current_task()
    assert task is not None  # noqa: S101 - always inside a task
    dropped = False

    def drop() -> None:
        nonlocal dropped
        dropped = True
        # closed first, so psycopg sees no query in flight to cancel and waits for nothing
        conn.pgconn.finish()
        task.cancel()

    timer = asyncio.get_running_loop().call_later(seconds, drop)
    try:
        yield
    except asyncio.CancelledError:
        if dropped and task.uncancel() == 0:
            raise DatabaseUnavailable(
                f"no answer within {seconds:g}s: connection dropped", transient=True
            ) from None
        raise
    except DRIVER_ERRORS as exc:
        if dropped:
            task.uncancel()  # the cancel was delivered, as a driver error
            raise DatabaseUnavailable(
                f"no answer within {seconds:g}s: connection dropped", transient=True
            ) from exc
        raise
    finally:
        timer.cancel()


#: the roles whose statements join a batch of keys to the table: planned under
#: the plan guard of ``set_limits.sql``
_GUARDED: frozenset[Role] = frozenset({"claim", "completion", "heartbeat"})


@lru_cache(maxsize=256)
def settings_statement(
    limits: Deadline, role: Role | None = None, *, presorted: bool = False
) -> bytes:
    """``set_limits.sql`` with the settings of `limit_params` written in as
    literals, rendered to bytes once: it runs before every statement of the hot
    path, and so neither binds parameters nor is composed again each time."""
    values = {
        name: sql.Literal(value)
        for name, value in limit_params(limits, role, presorted=presorted).items()
    }
    return sql.SQL(statements.text("set_limits")).format(**values).as_bytes(None)


def limit_params(
    limits: Deadline, role: Role | None = None, *, presorted: bool = False
) -> dict[str, str]:
    """The settings of ``set_limits.sql``; ``presorted``: the statement reads
    its rows in an index's order (the scan claim), and may not sort instead."""
    statement_timeout, lock_timeout = limits.settings
    return {
        "statement_timeout": statement_timeout,
        "lock_timeout": lock_timeout,
        "scans": "off" if role in _GUARDED else "on",
        "sorts": "off" if presorted else "on",
    }

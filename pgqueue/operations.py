"""Operating on commands from Python: `get`, `cancel`, `requeue`, `retry_now`, and
their ``_sync`` twins for a sync psycopg connection (Django, Flask…).

Each runs on the caller's own connection, like `pgqueue.enqueue`, in the
caller's transaction where it writes:

    state = await pgqueue.get(conn, command_id)
    cancelled = await pgqueue.cancel(conn, [command_id], reason="superseded")
    requeued = await pgqueue.requeue(conn, [command_id])
    state = pgqueue.get_sync(sync_conn, command_id)

A command id is a ``str`` everywhere in this API, as `enqueue` returns it and
`Command.command_id` carries it (any integer is taken too); an execution id is
an ``int``. `cancel` and `requeue` return the ids they changed.

Each operation is one statement and what to make of its rows (an `_Op`); the
async and the sync forms only run it, so the two cannot drift apart.
`pgqueue.waiting` has `wait`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

import psycopg
from psycopg.rows import dict_row

from pgqueue.db.table import QueueTable
from pgqueue.db.translate import DRIVER_ERRORS, translate
from pgqueue.errors import PgQueueError
from pgqueue.states import FINISHED

T = TypeVar("T")
Rows = list[dict[str, Any]]


class CommandNotFound(PgQueueError):
    """No command has that id (in that execution)."""


@dataclass(frozen=True, slots=True)
class CommandState:
    """A command as it stands, with its history fields."""

    command_id: str
    execution_id: int
    step_name: str | None
    tool_kind: str | None
    status: str | None
    attempts: int
    max_attempts: int
    worker_id: str | None
    result: Any
    error: str | None
    context: Any
    meta: Any
    created_at: datetime | None
    due_at: datetime | None
    claimed_at: datetime | None
    started_at: datetime | None
    completed_at: datetime | None
    lease_expires_at: datetime | None
    updated_at: datetime | None
    #: the attempts that did not complete, oldest first (the last ten): each
    #: one's ``attempt``, ``worker``, ``claimed_at``, ``started_at``,
    #: ``ended_at`` and ``error``
    attempt_log: list[dict[str, Any]] | None = None
    #: what its tool last said of its progress (``ctx.progress``)
    progress: Any = None

    @property
    def finished(self) -> bool:
        """``COMPLETED``, ``FAILED`` or ``CANCELLED``: nothing more will run."""
        return self.status in FINISHED


@dataclass(frozen=True, slots=True)
class _Op(Generic[T]):
    """One statement of the table, its parameters, and its rows' meaning;
    ``lock``: a statement run first in the same transaction (one is made on a
    connection in autocommit mode), with no parameters."""

    table: QueueTable
    name: str
    params: dict[str, Any]
    result: Callable[[Rows], T]
    lock: str | None = None


async def _run(conn: psycopg.AsyncConnection[Any], op: _Op[T]) -> T:
    try:
        async with contextlib.AsyncExitStack() as stack:
            if op.lock is not None and conn.autocommit:
                await stack.enter_async_context(conn.transaction())
            cur = await stack.enter_async_context(conn.cursor(row_factory=dict_row))
            if op.lock is not None:
                await cur.execute(op.table.statement(op.lock))
            await cur.execute(op.table.statement(op.name), op.params)
            rows = await cur.fetchall() if cur.description else []
    except DRIVER_ERRORS as exc:
        raise translate(exc) from exc
    return op.result(rows)


def _run_sync(conn: psycopg.Connection[Any], op: _Op[T]) -> T:
    try:
        with contextlib.ExitStack() as stack:
            if op.lock is not None and conn.autocommit:
                stack.enter_context(conn.transaction())
            cur = stack.enter_context(conn.cursor(row_factory=dict_row))
            if op.lock is not None:
                cur.execute(op.table.statement(op.lock))
            cur.execute(op.table.statement(op.name), op.params)
            rows = cur.fetchall() if cur.description else []
    except DRIVER_ERRORS as exc:
        raise translate(exc) from exc
    return op.result(rows)


def _ids(command_ids: Sequence[int | str] | None) -> list[int] | None:
    return None if command_ids is None else [int(i) for i in command_ids]


# -- the operations, once ---------------------------------------------------------------


def _get(command_id: int | str, execution_id: int | None, table: QueueTable | None) -> _Op[Any]:
    def state(rows: Rows) -> CommandState:
        if len(rows) != 1:
            where = f"command {command_id}" + (
                f" of execution {execution_id}" if execution_id else ""
            )
            if rows:
                raise CommandNotFound(f"{where} is in several executions: give execution_id")
            raise CommandNotFound(f"no {where}")
        return CommandState(**{**rows[0], "command_id": str(rows[0]["command_id"])})

    params = {"command_id": int(command_id), "execution_id": execution_id}
    return _Op(table or QueueTable(), "command_get", params, state)


def _named(
    command_ids: Sequence[int | str] | None,
    execution_id: int | None,
    tool_kind: str | None,
    step: str | None,
    every: bool,
) -> None:
    """Some filter given, or ``every`` said: an operation on every command is
    never the default."""
    nothing_named = command_ids is None and execution_id is None and tool_kind is None
    if nothing_named and step is None and not every:
        raise ValueError(
            "say which commands: command_ids, execution_id, tool_kind or step (or every=True)"
        )


def _cancel(
    command_ids: Sequence[int | str] | None,
    execution_id: int | None,
    tool_kind: str | None,
    step: str | None,
    reason: str | None,
    table: QueueTable | None,
    every: bool = False,
) -> _Op[list[str]]:
    _named(command_ids, execution_id, tool_kind, step, every)
    params = {
        "command_ids": _ids(command_ids),
        "execution_id": execution_id,
        "tool_kind": tool_kind,
        "step": step,
        "reason": reason,
    }
    return _Op(
        table or QueueTable(),
        "cancel",
        params,
        lambda rows: sorted(str(r["command_id"]) for r in rows),
    )


def _requeue(
    command_ids: Sequence[int | str] | None,
    execution_id: int | None,
    tool_kind: str | None,
    step: str | None,
    table: QueueTable | None,
    every: bool = False,
    name: str = "requeue",
) -> _Op[list[str]]:
    """``requeue`` (FAILED commands back, fresh attempts), or ``retry_now``
    (PENDING ones waiting out a delay or a backoff, due now): the same filters."""
    _named(command_ids, execution_id, tool_kind, step, every)
    table = table or QueueTable()
    params = {
        "command_ids": _ids(command_ids),
        "execution_id": execution_id,
        "tool_kind": tool_kind,
        "step": step,
        "channel": table.channel,
    }
    return _Op(table, name, params, lambda rows: [str(i) for i in rows[0]["command_ids"]])


# -- async ------------------------------------------------------------------------------


async def get(
    conn: psycopg.AsyncConnection[Any],
    command_id: int | str,
    *,
    execution_id: int | None = None,
    table: QueueTable | None = None,
) -> CommandState:
    """The command now; `CommandNotFound` if there is none (or several executions
    have that id and ``execution_id`` does not say which)."""
    state: CommandState = await _run(conn, _get(command_id, execution_id, table))
    return state


async def cancel(
    conn: psycopg.AsyncConnection[Any],
    command_ids: Sequence[int | str] | None = None,
    *,
    execution_id: int | None = None,
    tool_kind: str | None = None,
    step: str | None = None,
    reason: str | None = None,
    table: QueueTable | None = None,
    every: bool = False,
) -> list[str]:
    """Cancel the unfinished commands named (by id, and/or by execution, tool kind
    or step: at least one); a running tool stops at its worker's next
    heartbeat. The ids of those cancelled."""
    return await _run(
        conn, _cancel(command_ids, execution_id, tool_kind, step, reason, table, every)
    )


async def requeue(
    conn: psycopg.AsyncConnection[Any],
    command_ids: Sequence[int | str] | None = None,
    *,
    execution_id: int | None = None,
    tool_kind: str | None = None,
    step: str | None = None,
    table: QueueTable | None = None,
    every: bool = False,
) -> list[str]:
    """Send the ``FAILED`` commands named (by id, and/or by execution, tool kind or
    step: at least one) back to ``PENDING`` with fresh attempts; their ids."""
    return await _run(conn, _requeue(command_ids, execution_id, tool_kind, step, table, every))


async def retry_now(
    conn: psycopg.AsyncConnection[Any],
    command_ids: Sequence[int | str] | None = None,
    *,
    execution_id: int | None = None,
    tool_kind: str | None = None,
    step: str | None = None,
    table: QueueTable | None = None,
    every: bool = False,
) -> list[str]:
    """Make the PENDING commands named (by id, and/or by execution, tool kind or
    step) that wait out a delay or a retry's backoff due now, and wake the idle
    workers; the ids made due. Their attempts stay as they are."""
    return await _run(
        conn, _requeue(command_ids, execution_id, tool_kind, step, table, every, "retry_now")
    )


# -- sync -------------------------------------------------------------------------------


def get_sync(
    conn: psycopg.Connection[Any],
    command_id: int | str,
    *,
    execution_id: int | None = None,
    table: QueueTable | None = None,
) -> CommandState:
    """`get` on a sync connection."""
    state: CommandState = _run_sync(conn, _get(command_id, execution_id, table))
    return state


def cancel_sync(
    conn: psycopg.Connection[Any],
    command_ids: Sequence[int | str] | None = None,
    *,
    execution_id: int | None = None,
    tool_kind: str | None = None,
    step: str | None = None,
    reason: str | None = None,
    table: QueueTable | None = None,
    every: bool = False,
) -> list[str]:
    """`cancel` on a sync connection."""
    return _run_sync(
        conn, _cancel(command_ids, execution_id, tool_kind, step, reason, table, every)
    )


def requeue_sync(
    conn: psycopg.Connection[Any],
    command_ids: Sequence[int | str] | None = None,
    *,
    execution_id: int | None = None,
    tool_kind: str | None = None,
    step: str | None = None,
    table: QueueTable | None = None,
    every: bool = False,
) -> list[str]:
    """`requeue` on a sync connection."""
    return _run_sync(conn, _requeue(command_ids, execution_id, tool_kind, step, table, every))


def retry_now_sync(
    conn: psycopg.Connection[Any],
    command_ids: Sequence[int | str] | None = None,
    *,
    execution_id: int | None = None,
    tool_kind: str | None = None,
    step: str | None = None,
    table: QueueTable | None = None,
    every: bool = False,
) -> list[str]:
    """`retry_now` on a sync connection."""
    return _run_sync(
        conn, _requeue(command_ids, execution_id, tool_kind, step, table, every, "retry_now")
    )


__all__ = [
    "CommandNotFound",
    "CommandState",
    "cancel",
    "cancel_sync",
    "get",
    "get_sync",
    "requeue",
    "requeue_sync",
    "retry_now",
    "retry_now_sync",
]

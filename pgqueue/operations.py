"""Operating on commands from Python: `get`, `wait`, `cancel`, `requeue`.

Each runs on the caller's own connection (a psycopg ``AsyncConnection``), like
`pgqueue.enqueue`, in the caller's transaction where it writes:

    state = await pgqueue.get(conn, command_id)
    state = await pgqueue.wait(conn, command_id, timeout=30)   # until it is finished
    await pgqueue.cancel(conn, [command_id], reason="superseded")
    await pgqueue.requeue(conn, [command_id])

`wait` polls, with backoff from 10 ms to 1 s. It is not woken by a
notification: a ``NOTIFY`` in every completion would take PostgreSQL's one
notification-queue lock at the commit of every batch of completions, in every
worker, and serialise them; waiting callers are rare beside completions.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from pgqueue.db.table import QueueTable
from pgqueue.db.translate import DRIVER_ERRORS, translate
from pgqueue.errors import PgQueueError
from pgqueue.states import FINISHED


class CommandNotFound(PgQueueError):
    """No command has that id (in that execution)."""


@dataclass(frozen=True, slots=True)
class CommandState:
    """A command as it stands, with its history fields."""

    command_id: int
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

    @property
    def finished(self) -> bool:
        """``COMPLETED``, ``FAILED`` or ``CANCELLED``: nothing more will run."""
        return self.status in FINISHED


async def _rows(
    conn: psycopg.AsyncConnection[Any], table: QueueTable, name: str, params: dict[str, Any]
) -> list[dict[str, Any]]:
    try:
        async with conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(table.statement(name), params)
            return await cur.fetchall() if cur.description else []
    except DRIVER_ERRORS as exc:
        raise translate(exc) from exc


async def get(
    conn: psycopg.AsyncConnection[Any],
    command_id: int | str,
    *,
    execution_id: int | None = None,
    table: QueueTable | None = None,
) -> CommandState:
    """The command now; `CommandNotFound` if there is none (or several executions
    have that id and ``execution_id`` does not say which)."""
    table = table or QueueTable()
    rows = await _rows(
        conn, table, "command_get", {"command_id": int(command_id), "execution_id": execution_id}
    )
    if len(rows) != 1:
        where = f"command {command_id}" + (f" of execution {execution_id}" if execution_id else "")
        if rows:
            raise CommandNotFound(f"{where} is in several executions: give execution_id")
        raise CommandNotFound(f"no {where}")
    return CommandState(**rows[0])


async def wait(
    conn: psycopg.AsyncConnection[Any],
    command_id: int | str,
    *,
    timeout: float,
    execution_id: int | None = None,
    table: QueueTable | None = None,
) -> CommandState:
    """The command once it is finished; `TimeoutError` after ``timeout`` seconds.
    Each look is its own statement: in autocommit, or a transaction's snapshot
    would never see the worker's write (a connection in a transaction block
    must not be given here)."""
    deadline = asyncio.get_running_loop().time() + timeout
    delay = 0.01
    while True:
        state = await get(conn, command_id, execution_id=execution_id, table=table)
        if state.finished:
            return state
        left = deadline - asyncio.get_running_loop().time()
        if left <= 0:
            raise TimeoutError(f"command {command_id} is still {state.status} after {timeout:g}s")
        await asyncio.sleep(min(delay, left))
        delay = min(delay * 2, 1.0)


async def cancel(
    conn: psycopg.AsyncConnection[Any],
    command_ids: Sequence[int | str],
    *,
    execution_id: int | None = None,
    reason: str | None = None,
    table: QueueTable | None = None,
) -> list[tuple[int, int]]:
    """Cancel commands not finished yet (a running tool stops at its worker's next
    heartbeat); the ``(execution_id, command_id)`` of each one cancelled."""
    rows = await _rows(
        conn,
        table or QueueTable(),
        "cancel",
        {
            "command_ids": [int(i) for i in command_ids],
            "execution_id": execution_id,
            "reason": reason,
        },
    )
    return [(int(r["execution_id"]), int(r["command_id"])) for r in rows]


async def requeue(
    conn: psycopg.AsyncConnection[Any],
    command_ids: Sequence[int | str],
    *,
    table: QueueTable | None = None,
) -> int:
    """Send ``FAILED`` commands back to ``PENDING`` with fresh attempts; how many."""
    table = table or QueueTable()
    rows = await _rows(
        conn,
        table,
        "requeue",
        {
            "command_ids": [int(i) for i in command_ids],
            "execution_id": None,
            "tool_kind": None,
            "step": None,
            "channel": table.channel,
        },
    )
    return int(next(iter(rows[0].values())))

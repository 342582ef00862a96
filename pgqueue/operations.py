"""Operating on commands from Python: `get`, `wait`, `cancel`, `requeue`.

Each runs on the caller's own connection (a psycopg ``AsyncConnection``), like
`pgqueue.enqueue`, in the caller's transaction where it writes:

    state = await pgqueue.get(conn, command_id)
    state = await pgqueue.wait(conn, command_id, timeout=30)   # until it is finished
    await pgqueue.cancel(conn, [command_id], reason="superseded")
    await pgqueue.requeue(conn, [command_id])

`wait` is woken by a notification from the write that finishes the command,
sent only for commands someone waits on (a ``NOTIFY`` takes the server's one
notification-queue lock at commit: sent with every batch of completions, it
would serialise every worker's), and looks once a second as well.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
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
    poll: float = 1.0,
) -> CommandState:
    """The command once it is finished; `TimeoutError` after ``timeout`` seconds.

    Woken by a notification: it records itself as a waiter on the command and
    LISTENs, and the write that finishes the command notifies (see migration
    0010). It also looks every ``poll`` seconds, in case a notification is lost
    (a connection through a transaction pooler cannot LISTEN). ``conn`` must be
    in autocommit: each look is its own statement, or a transaction's snapshot
    would never see the worker's write, and a notification is delivered only
    between transactions."""
    if not conn.autocommit:
        raise ValueError("pgqueue.wait needs a connection in autocommit mode")
    table = table or QueueTable()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    wanted = str(int(command_id))
    channel = sql.Identifier(table.finished_channel)
    await _rows(conn, table, "waiter_add", {"command_id": int(command_id)})
    try:
        await conn.execute(sql.SQL("LISTEN {}").format(channel))
        while True:
            state = await get(conn, command_id, execution_id=execution_id, table=table)
            if state.finished:
                return state
            left = deadline - loop.time()
            if left <= 0:
                raise TimeoutError(
                    f"command {command_id} is still {state.status} after {timeout:g}s"
                )
            async for notice in conn.notifies(timeout=min(poll, left)):
                if wanted in notice.payload.split(","):
                    break
    finally:
        await conn.execute(sql.SQL("UNLISTEN {}").format(channel))
        await _rows(conn, table, "waiter_remove", {"command_id": int(command_id)})


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
            "finished_channel": (table or QueueTable()).finished_channel,
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

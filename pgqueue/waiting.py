"""`wait` (and `wait_sync`): a command once it has finished, woken by a
notification rather than by polling.

    state = await pgqueue.wait(conn, command_id, timeout=30)

The caller LISTENs on the queue's done channel, writes a waiter row and tells
the workers on the queue's channel that someone waits. A worker that hears it
looks once for finished commands waited on, and from then on follows each of
its completions, in their transaction, with that look
(``wake_waiters.sql``), until nobody waits: the notification goes out with the
completion's commit. A worker that knows of no waiter does nothing of the
sort, so waiting costs the hot path nothing while nobody waits (a wake-up in
every completion cost about a fifth of the burn-down).

Between notifications the caller still looks once a second, in case no
worker listens (``--until-empty``, a pooler that drops LISTEN) or the
command ended some other way (an operator's cancel, a failure). On a
connection in a transaction block no notification can arrive and its
snapshot would never see the worker's write: give one in autocommit mode; a
connection that is not polls, from 10 ms up to a second.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import psycopg
from psycopg import sql

from pgqueue.db.table import QueueTable
from pgqueue.operations import CommandState, _Op, _run, _run_sync, get, get_sync

#: the longest a waiter goes without looking, notification or not
LOOK_EVERY = 1.0


class _Waiting:
    """`wait`'s schedule: the next pause, or `TimeoutError` once it is over.
    Polling, the pauses double from 10 ms to `LOOK_EVERY`; listening, each is
    `LOOK_EVERY` (a notification ends it sooner)."""

    def __init__(self, command_id: int | str, timeout: float, *, listening: bool) -> None:
        self.command_id = command_id
        self.timeout = timeout
        self.deadline = time.monotonic() + timeout
        self.delay = LOOK_EVERY if listening else 0.01

    def pause(self, state: CommandState) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(
                f"command {self.command_id} is still {state.status} after {self.timeout:g}s"
            )
        pause, self.delay = min(self.delay, left), min(self.delay * 2, LOOK_EVERY)
        return pause


def _listens(conn: psycopg.Connection[Any] | psycopg.AsyncConnection[Any]) -> bool:
    idle = conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    return bool(conn.autocommit and idle)


def _listen(table: QueueTable, on: bool) -> sql.Composed:
    verb = "LISTEN {}" if on else "UNLISTEN {}"
    return sql.SQL(verb).format(sql.Identifier(table.done_channel))


def _add(state: CommandState, table: QueueTable) -> _Op[int]:
    params = {
        "execution_id": state.execution_id,
        "command_id": int(state.command_id),
        "channel": table.channel,
    }
    return _Op(table, "waiter_add", params, lambda rows: int(rows[0]["waiter_id"]))


def _remove(waiter_id: int, table: QueueTable) -> _Op[None]:
    return _Op(table, "waiter_remove", {"waiter_id": waiter_id}, lambda rows: None)


async def wait(
    conn: psycopg.AsyncConnection[Any],
    command_id: int | str,
    *,
    timeout: float,
    execution_id: int | None = None,
    table: QueueTable | None = None,
) -> CommandState:
    """The command once it is finished (COMPLETED, FAILED or CANCELLED);
    `TimeoutError` after ``timeout`` seconds. Give a connection in autocommit
    mode (see the module)."""
    table = table or QueueTable()
    state = await get(conn, command_id, execution_id=execution_id, table=table)
    if state.finished:
        return state
    listening = _listens(conn)
    waiting = _Waiting(command_id, timeout, listening=listening)
    if not listening:
        while not state.finished:
            await asyncio.sleep(waiting.pause(state))
            state = await get(conn, command_id, execution_id=state.execution_id, table=table)
        return state
    await conn.execute(_listen(table, True))
    waiter = await _run(conn, _add(state, table))
    try:
        payload = str(state.command_id)
        # a look after the waiter is written: a completion before it is seen here
        while not (
            state := await get(conn, command_id, execution_id=state.execution_id, table=table)
        ).finished:
            async for note in conn.notifies(timeout=waiting.pause(state)):
                if note.payload == payload:
                    break
        return state
    finally:
        await _run(conn, _remove(waiter, table))
        await conn.execute(_listen(table, False))


def wait_sync(
    conn: psycopg.Connection[Any],
    command_id: int | str,
    *,
    timeout: float,
    execution_id: int | None = None,
    table: QueueTable | None = None,
) -> CommandState:
    """`wait` on a sync connection (in autocommit mode: see the module)."""
    table = table or QueueTable()
    state = get_sync(conn, command_id, execution_id=execution_id, table=table)
    if state.finished:
        return state
    listening = _listens(conn)
    waiting = _Waiting(command_id, timeout, listening=listening)
    if not listening:
        while not state.finished:
            time.sleep(waiting.pause(state))
            state = get_sync(conn, command_id, execution_id=state.execution_id, table=table)
        return state
    conn.execute(_listen(table, True))
    waiter = _run_sync(conn, _add(state, table))
    try:
        payload = str(state.command_id)
        while not (
            state := get_sync(conn, command_id, execution_id=state.execution_id, table=table)
        ).finished:
            for note in conn.notifies(timeout=waiting.pause(state)):
                if note.payload == payload:
                    break
        return state
    finally:
        _run_sync(conn, _remove(waiter, table))
        conn.execute(_listen(table, False))

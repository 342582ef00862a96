"""Finishing a claimed command in the caller's own transaction: `complete`,
`fail`, `retry` and `cancel` (and their ``_sync`` twins) on a connection the
caller controls, so the command's end commits or rolls back with the
application's own writes:

    async with conn.transaction():
        await conn.execute("INSERT INTO invoices ...")
        await pgqueue.complete(conn, handle, {"invoice": 42})

``handle`` is what holds the claim: a `PgHandle` from `PgCommandSource` (acked),
or its `ClaimedRow`. Every write is fenced by the claim's token: a stale handle
(its lease ran out, the row was rescued and claimed again, maybe finished by
its new holder) raises `LeaseLost` and writes nothing. (River's
``JobCompleteTx`` matches only ``state = 'running'``, so a stale worker can
complete a job claimed again since.) Inside a `Worker`, a tool does this with
``ctx.transaction()`` instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import psycopg

from pgqueue import jsonvalues, operations
from pgqueue.db.table import QueueTable
from pgqueue.db.translate import DRIVER_ERRORS, translate
from pgqueue.db.wire import JsonbArray, fenced_keys, use_packed_arrays
from pgqueue.errors import LeaseLost, Snooze
from pgqueue.handles import PgHandle
from pgqueue.outcomes import ClaimedRow

Handle = PgHandle | ClaimedRow


@dataclass(frozen=True, slots=True)
class _Write:
    """One fenced write: its statement, parameters, and whether they are packed."""

    claim: ClaimedRow
    table: QueueTable
    name: str
    params: dict[str, Any]
    packed: bool = False

    def lost(self) -> LeaseLost:
        claim = self.claim
        return LeaseLost(
            f"command {claim.command_id} of execution {claim.execution_id}: this claim no"
            " longer holds it (finished, cancelled, or its lease ran out and it was claimed"
            " again); nothing written"
        )


def claim_of(handle: Handle) -> ClaimedRow:
    """The claim ``handle`` holds."""
    if isinstance(handle, ClaimedRow):
        return handle
    if isinstance(handle, PgHandle) and handle.claim is not None:
        return handle.claim
    raise TypeError(
        f"{handle!r} holds no claim (a PgHandle of a Claimed outcome, or its ClaimedRow)"
    )


def _complete(
    handle: Handle, result_json: str, reports: Sequence[str], table: QueueTable | None
) -> _Write:
    claim = claim_of(handle)
    params = fenced_keys([(claim.execution_id, claim.command_id, claim.token)])
    params["results"] = JsonbArray([result_json])
    if reports:
        params["reports"] = JsonbArray(reports)
    name = "complete_reported" if reports else "complete"
    return _Write(claim, table or QueueTable(), name, params, packed=True)


def _nack(
    handle: Handle, *, terminal: bool, delay: timedelta, error: str | None, table: QueueTable | None
) -> _Write:
    claim = claim_of(handle)
    params = {
        "execution_id": claim.execution_id,
        "command_id": claim.command_id,
        "token": claim.token,
        "delay": delay,
        "terminal": terminal,
        "error": error,
    }
    return _Write(claim, table or QueueTable(), "nack", params)


def _cancel(handle: Handle, reason: str | None, table: QueueTable | None) -> _Write:
    claim = claim_of(handle)
    params = {
        "execution_id": claim.execution_id,
        "command_id": claim.command_id,
        "token": claim.token,
        "reason": reason,
    }
    return _Write(claim, table or QueueTable(), "finish_cancel", params)


async def _run(conn: psycopg.AsyncConnection[Any], write: _Write) -> None:
    try:
        async with conn.cursor() as cur:
            if write.packed:
                use_packed_arrays(cur)
            await cur.execute(write.table.statement(write.name), write.params)
            rows = await cur.fetchall()
    except DRIVER_ERRORS as exc:
        raise translate(exc) from exc
    if not rows:
        raise write.lost()


def _run_sync(conn: psycopg.Connection[Any], write: _Write) -> None:
    try:
        with conn.cursor() as cur:
            if write.packed:
                use_packed_arrays(cur)
            cur.execute(write.table.statement(write.name), write.params)
            rows = cur.fetchall()
    except DRIVER_ERRORS as exc:
        raise translate(exc) from exc
    if not rows:
        raise write.lost()


def _snooze(handle: Handle, delay: timedelta | float, table: QueueTable | None) -> _Write:
    claim = claim_of(handle)
    params = {
        "execution_id": claim.execution_id,
        "command_id": claim.command_id,
        "token": claim.token,
        "delay": Snooze(delay).delay,
    }
    return _Write(claim, table or QueueTable(), "snooze", params)


# -- async ------------------------------------------------------------------------------


async def snooze(
    conn: psycopg.AsyncConnection[Any],
    handle: Handle,
    delay: timedelta | float,
    *,
    table: QueueTable | None = None,
) -> None:
    """PENDING again after ``delay`` (seconds, or a timedelta), no attempt spent."""
    await _run(conn, _snooze(handle, delay, table))


async def complete(
    conn: psycopg.AsyncConnection[Any],
    handle: Handle,
    result: Any = None,
    *,
    table: QueueTable | None = None,
) -> None:
    """Finish the command ``handle`` holds as COMPLETED with ``result`` (any JSON
    value), in ``conn``'s transaction; `LeaseLost` if the claim no longer holds it."""
    await _run(conn, _complete(handle, jsonvalues.dumps_checked(result), (), table))


async def complete_reported(
    conn: psycopg.AsyncConnection[Any],
    handle: Handle,
    result_json: str,
    reports: Sequence[str],
    *,
    table: QueueTable | None = None,
) -> None:
    """`complete` with ``result_json`` serialised already, and the reports to the
    control plane (outbox items) written in the same statement."""
    await _run(conn, _complete(handle, result_json, reports, table))


async def fail(
    conn: psycopg.AsyncConnection[Any],
    handle: Handle,
    error: str,
    *,
    table: QueueTable | None = None,
) -> None:
    """Park the command as FAILED with ``error`` (no more attempts)."""
    await _run(conn, _nack(handle, terminal=True, delay=timedelta(0), error=error, table=table))


async def retry(
    conn: psycopg.AsyncConnection[Any],
    handle: Handle,
    *,
    delay: timedelta = timedelta(0),
    error: str | None = None,
    table: QueueTable | None = None,
) -> None:
    """Spend the attempt: the command is due again after ``delay`` (FAILED if it
    was its last attempt)."""
    await _run(conn, _nack(handle, terminal=False, delay=delay, error=error, table=table))


async def cancel(
    conn: psycopg.AsyncConnection[Any],
    what: Handle | Sequence[int | str] | None = None,
    *,
    execution_id: int | None = None,
    tool_kind: str | None = None,
    step: str | None = None,
    reason: str | None = None,
    table: QueueTable | None = None,
    every: bool = False,
) -> list[str]:
    """Cancel the command a handle holds (fenced, `LeaseLost` if it no longer
    does), or the commands named as `pgqueue.operations.cancel` names them (by
    id, execution, tool kind or step); the ids cancelled."""
    if isinstance(what, PgHandle | ClaimedRow):
        write = _cancel(what, reason, table)
        await _run(conn, write)
        return [str(write.claim.command_id)]
    return await operations.cancel(
        conn,
        what,
        execution_id=execution_id,
        tool_kind=tool_kind,
        step=step,
        reason=reason,
        table=table,
        every=every,
    )


# -- sync -------------------------------------------------------------------------------


def snooze_sync(
    conn: psycopg.Connection[Any],
    handle: Handle,
    delay: timedelta | float,
    *,
    table: QueueTable | None = None,
) -> None:
    _run_sync(conn, _snooze(handle, delay, table))


def complete_sync(
    conn: psycopg.Connection[Any],
    handle: Handle,
    result: Any = None,
    *,
    table: QueueTable | None = None,
) -> None:
    _run_sync(conn, _complete(handle, jsonvalues.dumps_checked(result), (), table))


def fail_sync(
    conn: psycopg.Connection[Any], handle: Handle, error: str, *, table: QueueTable | None = None
) -> None:
    _run_sync(conn, _nack(handle, terminal=True, delay=timedelta(0), error=error, table=table))


def retry_sync(
    conn: psycopg.Connection[Any],
    handle: Handle,
    *,
    delay: timedelta = timedelta(0),
    error: str | None = None,
    table: QueueTable | None = None,
) -> None:
    _run_sync(conn, _nack(handle, terminal=False, delay=delay, error=error, table=table))


def cancel_sync(
    conn: psycopg.Connection[Any],
    what: Handle | Sequence[int | str] | None = None,
    *,
    execution_id: int | None = None,
    tool_kind: str | None = None,
    step: str | None = None,
    reason: str | None = None,
    table: QueueTable | None = None,
    every: bool = False,
) -> list[str]:
    """`cancel` on a sync connection."""
    if isinstance(what, PgHandle | ClaimedRow):
        write = _cancel(what, reason, table)
        _run_sync(conn, write)
        return [str(write.claim.command_id)]
    return operations.cancel_sync(
        conn,
        what,
        execution_id=execution_id,
        tool_kind=tool_kind,
        step=step,
        reason=reason,
        table=table,
        every=every,
    )

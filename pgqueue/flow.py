"""Flow control from Python: concurrency limits, rate limits and paused tool
kinds, on the caller's own connection (in its transaction, like
`pgqueue.enqueue`), with ``_sync`` twins for a sync psycopg connection.

    await pgqueue.set_limit(conn, tool_kind="http", max_running=10)
    await pgqueue.set_limit(conn, tool_kind="http", rate="50/1s")
    await pgqueue.set_limit(conn, key="tenant-42", max_running=3)
    await pgqueue.set_limit(conn, every_execution=True, max_running=5)
    await pgqueue.set_limit(conn, execution_id=1796125936902001, max_running=20)
    await pgqueue.clear_limit(conn, key="tenant-42")
    await pgqueue.clear_limit(conn, tool_kind="http", lever="rate")   # keep max_running
    await pgqueue.pause(conn, ["http"], reason="the partner API is down")
    await pgqueue.resume(conn, ["http"])

A limit holds at most ``max_running`` commands of its key CLAIMED or RUNNING
at once, and lets at most ``rate.count`` of them start (be claimed) in any
window of ``rate.period``, across every worker: the claim decides it in the
database (``claim_limited.sql``), from the next claim after the change commits. A
paused kind's commands stay PENDING; running ones finish. Each operation is an
`_Op` of `pgqueue.operations`: the async and sync forms only run it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import psycopg

from pgqueue.db.table import QueueTable
from pgqueue.levers import (
    FairShare,
    InvalidLimit,
    Lever,
    Limit,
    Pause,
    Rate,
    Scope,
    fair_share_of,
    kinds_of,
    limit_of,
    limit_scope,
    max_running_of,
    pause_of,
    rate_of,
)
from pgqueue.operations import Rows, _Op, _run, _run_sync
from pgqueue.registry import STALE

# -- the operations, once ---------------------------------------------------------------


def _set(
    scope: tuple[Scope, str], max_running: object, rate: object, table: QueueTable | None
) -> _Op[Limit]:
    at_most, every = max_running_of(max_running), rate_of(rate)
    if at_most is None and every is None:
        raise InvalidLimit("a limit sets max_running, rate, or both")
    params = {
        "scope": scope[0],
        "key": scope[1],
        "max_running": at_most,
        "rate_count": None if every is None else every.count,
        "rate_period": None if every is None else every.period,
    }
    # under the limit table's exclusive lock: see limit_lock.sql
    return _Op(
        table or QueueTable(),
        "limit_set",
        params,
        lambda rows: limit_of(rows[0]),
        lock="limit_lock",
    )


def _clear(
    scope: tuple[Scope, str], lever: Lever | None, table: QueueTable | None
) -> _Op[Limit | None]:
    def removed(rows: Rows) -> Limit | None:
        return limit_of(rows[0]) if rows else None

    if lever not in (None, "max_running", "rate"):
        raise InvalidLimit(f"lever: 'max_running' or 'rate' (or None for both), not {lever!r}")
    params = {"scope": scope[0], "key": scope[1], "lever": lever}
    return _Op(table or QueueTable(), "limit_clear", params, removed)


def _list(table: QueueTable | None) -> _Op[list[Limit]]:
    return _Op(table or QueueTable(), "limit_list", {}, lambda rows: [limit_of(r) for r in rows])


def _pause_op(
    kinds: Sequence[str] | str, reason: str | None, table: QueueTable | None
) -> _Op[list[Pause]]:
    params = {"tool_kinds": kinds_of(kinds), "reason": reason}
    return _Op(table or QueueTable(), "pause", params, lambda rows: [pause_of(r) for r in rows])


def _resume_op(kinds: Sequence[str] | str, table: QueueTable | None) -> _Op[list[Pause]]:
    params = {"tool_kinds": kinds_of(kinds)}
    return _Op(table or QueueTable(), "resume", params, lambda rows: [pause_of(r) for r in rows])


def _paused_op(table: QueueTable | None) -> _Op[list[Pause]]:
    return _Op(table or QueueTable(), "pause_list", {}, lambda rows: [pause_of(r) for r in rows])


def _why_op(
    command_id: int | str, execution_id: int | None, table: QueueTable | None
) -> _Op[str | None]:
    def waiting(rows: Rows) -> str | None:
        if len(rows) != 1 or rows[0]["status"] != "PENDING":
            return None
        row = rows[0]
        if row["later"]:
            return "not due yet (a delay, or a retry's backoff)"
        if row["held_back"]:
            return f"held back: {row['held_back']}"
        if row["unserved"]:
            return "no live worker serves its tool kind (start one with a tool for it)"
        return "due: the next claim of a worker that serves its kind takes it"

    params = {"command_id": int(command_id), "execution_id": execution_id, "stale": STALE}
    return _Op(table or QueueTable(), "command_why", params, waiting)


def _fair_set(value: object, table: QueueTable | None) -> _Op[FairShare | None]:
    params = {"value": fair_share_of(value)}
    return _Op(table or QueueTable(), "fair_share_set", params, lambda rows: rows[0]["value"])


def _fair_get(table: QueueTable | None) -> _Op[FairShare | None]:
    return _Op(
        table or QueueTable(),
        "fair_share_get",
        {},
        lambda rows: rows[0]["value"] if rows else None,
    )


# -- async ------------------------------------------------------------------------------


async def why(
    conn: psycopg.AsyncConnection[Any],
    command_id: int | str,
    *,
    execution_id: int | None = None,
    table: QueueTable | None = None,
) -> str | None:
    """Why a PENDING command is not running (``None`` for any other state): not
    due yet, held back by a pause, a full limit or a full rate (which, and when
    its next start is allowed), no live worker for its
    kind, or due for the next claim."""
    return await _run(conn, _why_op(command_id, execution_id, table))


async def set_limit(
    conn: psycopg.AsyncConnection[Any],
    *,
    max_running: int | None = None,
    rate: Rate | str | None = None,
    tool_kind: str | None = None,
    key: str | None = None,
    execution_id: int | str | None = None,
    every_execution: bool = False,
    table: QueueTable | None = None,
) -> Limit:
    """At most ``max_running`` commands of one key CLAIMED or RUNNING at once,
    and at most ``rate`` (``"50/1s"``, or a `Rate`) of them starting in any
    window of its period, across every worker. The key: a tool kind, a
    concurrency key (set at enqueue), one execution, or
    (``every_execution=True``) each execution without its own. A lever not
    given keeps its value on a limit already set."""
    scope = limit_scope(
        tool_kind=tool_kind, key=key, execution_id=execution_id, every_execution=every_execution
    )
    return await _run(conn, _set(scope, max_running, rate, table))


async def clear_limit(
    conn: psycopg.AsyncConnection[Any],
    *,
    tool_kind: str | None = None,
    key: str | None = None,
    execution_id: int | str | None = None,
    every_execution: bool = False,
    lever: Lever | None = None,
    table: QueueTable | None = None,
) -> Limit | None:
    """Remove a limit, or only one of its levers (``lever="rate"`` or
    ``"max_running"``; a limit left with none goes); the limit as it was, or
    ``None`` if it (or that lever) was not set."""
    scope = limit_scope(
        tool_kind=tool_kind, key=key, execution_id=execution_id, every_execution=every_execution
    )
    return await _run(conn, _clear(scope, lever, table))


async def limits(
    conn: psycopg.AsyncConnection[Any], *, table: QueueTable | None = None
) -> list[Limit]:
    """Every limit, with what runs under it now and what waits."""
    return await _run(conn, _list(table))


async def pause(
    conn: psycopg.AsyncConnection[Any],
    tool_kinds: Sequence[str] | str,
    *,
    reason: str | None = None,
    table: QueueTable | None = None,
) -> list[Pause]:
    """Claim no more commands of ``tool_kinds`` (running ones finish)."""
    return await _run(conn, _pause_op(tool_kinds, reason, table))


async def resume(
    conn: psycopg.AsyncConnection[Any],
    tool_kinds: Sequence[str] | str,
    *,
    table: QueueTable | None = None,
) -> list[Pause]:
    """Claim ``tool_kinds`` again; the pauses lifted (none for a kind not paused)."""
    return await _run(conn, _resume_op(tool_kinds, table))


async def paused(
    conn: psycopg.AsyncConnection[Any], *, table: QueueTable | None = None
) -> list[Pause]:
    """The paused kinds, with their reason and how many due commands wait."""
    return await _run(conn, _paused_op(table))


async def set_fair_share(
    conn: psycopg.AsyncConnection[Any],
    over: FairShare | Literal["off"] | None,
    *,
    table: QueueTable | None = None,
) -> FairShare | None:
    """Spread each claim round-robin over executions (``"execution"``) or
    concurrency keys (``"key"``), for the whole fleet from its next claims;
    ``None`` or ``"off"``: claim order alone. Returns what is now set."""
    return await _run(conn, _fair_set(over, table))


async def fair_share(
    conn: psycopg.AsyncConnection[Any], *, table: QueueTable | None = None
) -> FairShare | None:
    """The fleet's fair share: ``"execution"``, ``"key"`` or ``None`` (off)."""
    return await _run(conn, _fair_get(table))


# -- sync twins -------------------------------------------------------------------------


def set_limit_sync(
    conn: psycopg.Connection[Any],
    *,
    max_running: int | None = None,
    rate: Rate | str | None = None,
    tool_kind: str | None = None,
    key: str | None = None,
    execution_id: int | str | None = None,
    every_execution: bool = False,
    table: QueueTable | None = None,
) -> Limit:
    """`set_limit` on a sync connection."""
    scope = limit_scope(
        tool_kind=tool_kind, key=key, execution_id=execution_id, every_execution=every_execution
    )
    return _run_sync(conn, _set(scope, max_running, rate, table))


def clear_limit_sync(
    conn: psycopg.Connection[Any],
    *,
    tool_kind: str | None = None,
    key: str | None = None,
    execution_id: int | str | None = None,
    every_execution: bool = False,
    lever: Lever | None = None,
    table: QueueTable | None = None,
) -> Limit | None:
    """`clear_limit` on a sync connection."""
    scope = limit_scope(
        tool_kind=tool_kind, key=key, execution_id=execution_id, every_execution=every_execution
    )
    return _run_sync(conn, _clear(scope, lever, table))


def limits_sync(conn: psycopg.Connection[Any], *, table: QueueTable | None = None) -> list[Limit]:
    """`limits` on a sync connection."""
    return _run_sync(conn, _list(table))


def pause_sync(
    conn: psycopg.Connection[Any],
    tool_kinds: Sequence[str] | str,
    *,
    reason: str | None = None,
    table: QueueTable | None = None,
) -> list[Pause]:
    """`pause` on a sync connection."""
    return _run_sync(conn, _pause_op(tool_kinds, reason, table))


def resume_sync(
    conn: psycopg.Connection[Any],
    tool_kinds: Sequence[str] | str,
    *,
    table: QueueTable | None = None,
) -> list[Pause]:
    """`resume` on a sync connection."""
    return _run_sync(conn, _resume_op(tool_kinds, table))


def paused_sync(conn: psycopg.Connection[Any], *, table: QueueTable | None = None) -> list[Pause]:
    """`paused` on a sync connection."""
    return _run_sync(conn, _paused_op(table))


def why_sync(
    conn: psycopg.Connection[Any],
    command_id: int | str,
    *,
    execution_id: int | None = None,
    table: QueueTable | None = None,
) -> str | None:
    """`why` on a sync connection."""
    return _run_sync(conn, _why_op(command_id, execution_id, table))


def set_fair_share_sync(
    conn: psycopg.Connection[Any],
    over: FairShare | Literal["off"] | None,
    *,
    table: QueueTable | None = None,
) -> FairShare | None:
    """`set_fair_share` on a sync connection."""
    return _run_sync(conn, _fair_set(over, table))


def fair_share_sync(
    conn: psycopg.Connection[Any], *, table: QueueTable | None = None
) -> FairShare | None:
    """`fair_share` on a sync connection."""
    return _run_sync(conn, _fair_get(table))


__all__ = [
    "FairShare",
    "InvalidLimit",
    "Lever",
    "Limit",
    "Pause",
    "Rate",
    "Scope",
    "clear_limit",
    "clear_limit_sync",
    "fair_share",
    "fair_share_sync",
    "limit_of",
    "limit_scope",
    "limits",
    "limits_sync",
    "pause",
    "pause_sync",
    "paused",
    "paused_sync",
    "resume",
    "resume_sync",
    "set_fair_share",
    "set_fair_share_sync",
    "set_limit",
    "set_limit_sync",
    "why",
    "why_sync",
]

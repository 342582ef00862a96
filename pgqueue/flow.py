"""Flow control from Python: concurrency limits and paused tool kinds, on the
caller's own connection (in its transaction, like `pgqueue.enqueue`), with
``_sync`` twins for a sync psycopg connection.

    await pgqueue.set_limit(conn, tool_kind="http", max_running=10)
    await pgqueue.set_limit(conn, key="tenant-42", max_running=3)
    await pgqueue.set_limit(conn, every_execution=True, max_running=5)
    await pgqueue.set_limit(conn, execution_id=1796125936902001, max_running=20)
    await pgqueue.clear_limit(conn, key="tenant-42")
    await pgqueue.pause(conn, ["http"], reason="the partner API is down")
    await pgqueue.resume(conn, ["http"])

A limit holds at most ``max_running`` commands of its key CLAIMED or RUNNING
at once, across every worker: the claim decides it in the database
(``claim_limited.sql``), from the next claim after the change commits. A
paused kind's commands stay PENDING; running ones finish. Each operation is an
`_Op` of `pgqueue.operations`: the async and sync forms only run it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import psycopg

from pgqueue.db.table import QueueTable
from pgqueue.errors import ConfigurationError
from pgqueue.operations import Rows, _Op, _run, _run_sync
from pgqueue.registry import STALE

Scope = Literal["tool_kind", "key", "execution", "every_execution"]


class InvalidLimit(ConfigurationError, ValueError):
    """A limit or a pause asked for something that cannot be (the message names
    the field)."""


@dataclass(frozen=True, slots=True)
class Limit:
    """One concurrency limit, and how it stands (`limits` fills ``running`` and
    ``waiting``; `set_limit` and `clear_limit` leave them ``None``)."""

    scope: Scope
    key: str
    max_running: int
    running: int | None = None
    waiting: int | None = None
    updated_at: datetime | None = None

    @property
    def name(self) -> str:
        """As the CLI names it: ``tool kind http``, ``key tenant-42``…"""
        match self.scope:
            case "every_execution":
                return "every execution"
            case "tool_kind":
                return f"tool kind {self.key}"
            case _:
                return f"{self.scope} {self.key}"


@dataclass(frozen=True, slots=True)
class Pause:
    """A paused tool kind (`paused` fills ``waiting``)."""

    tool_kind: str
    reason: str | None
    paused_at: datetime
    waiting: int | None = None


def limit_scope(
    *,
    tool_kind: str | None = None,
    key: str | None = None,
    execution_id: int | str | None = None,
    every_execution: bool = False,
) -> tuple[Scope, str]:
    """The ``(scope, key)`` of a limit from exactly one of its four forms."""
    given: list[tuple[Scope, str]] = []
    if tool_kind is not None:
        if not tool_kind.strip():
            raise InvalidLimit("tool_kind: must not be blank")
        given.append(("tool_kind", tool_kind))
    if key is not None:
        if not key.strip():
            raise InvalidLimit("key: must not be blank")
        given.append(("key", key))
    if execution_id is not None:
        try:
            execution = int(execution_id)
        except ValueError:
            raise InvalidLimit(f"execution_id: {execution_id!r} is not an integer") from None
        given.append(("execution", str(execution)))
    if every_execution:
        given.append(("every_execution", ""))
    if len(given) != 1:
        raise InvalidLimit(
            "a limit names exactly one of tool_kind, key, execution_id or every_execution"
        )
    return given[0]


def _max_running(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidLimit(f"max_running: must be a positive integer, not {value!r}")
    return value


def _kinds(tool_kinds: Sequence[str] | str) -> list[str]:
    kinds = [tool_kinds] if isinstance(tool_kinds, str) else list(tool_kinds)
    if not kinds:
        raise InvalidLimit("tool_kinds: name at least one tool kind")
    for kind in kinds:
        if not isinstance(kind, str) or not kind.strip():
            raise InvalidLimit(f"tool_kinds: {kind!r} is not a tool kind")
    return kinds


def limit_of(row: dict[str, Any]) -> Limit:
    """A row of ``limit_list.sql`` (or of a limit's write) as a `Limit`."""
    return Limit(
        scope=row["scope"],
        key=row["key"],
        max_running=int(row["max_running"]),
        running=None if row.get("running") is None else int(row["running"]),
        waiting=None if row.get("waiting") is None else int(row["waiting"]),
        updated_at=row.get("updated_at"),
    )


def _pause(row: dict[str, Any]) -> Pause:
    waiting = row.get("waiting")
    return Pause(
        row["tool_kind"], row["reason"], row["paused_at"], None if waiting is None else int(waiting)
    )


# -- the operations, once ---------------------------------------------------------------


def _set(scope: tuple[Scope, str], max_running: object, table: QueueTable | None) -> _Op[Limit]:
    params = {"scope": scope[0], "key": scope[1], "max_running": _max_running(max_running)}
    return _Op(table or QueueTable(), "limit_set", params, lambda rows: limit_of(rows[0]))


def _clear(scope: tuple[Scope, str], table: QueueTable | None) -> _Op[Limit | None]:
    def removed(rows: Rows) -> Limit | None:
        return limit_of(rows[0]) if rows else None

    params = {"scope": scope[0], "key": scope[1]}
    return _Op(table or QueueTable(), "limit_clear", params, removed)


def _list(table: QueueTable | None) -> _Op[list[Limit]]:
    return _Op(table or QueueTable(), "limit_list", {}, lambda rows: [limit_of(r) for r in rows])


def _pause_op(
    kinds: Sequence[str] | str, reason: str | None, table: QueueTable | None
) -> _Op[list[Pause]]:
    params = {"tool_kinds": _kinds(kinds), "reason": reason}
    return _Op(table or QueueTable(), "pause", params, lambda rows: [_pause(r) for r in rows])


def _resume_op(kinds: Sequence[str] | str, table: QueueTable | None) -> _Op[list[Pause]]:
    params = {"tool_kinds": _kinds(kinds)}
    return _Op(table or QueueTable(), "resume", params, lambda rows: [_pause(r) for r in rows])


def _paused_op(table: QueueTable | None) -> _Op[list[Pause]]:
    return _Op(table or QueueTable(), "pause_list", {}, lambda rows: [_pause(r) for r in rows])


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


# -- async ------------------------------------------------------------------------------


async def why(
    conn: psycopg.AsyncConnection[Any],
    command_id: int | str,
    *,
    execution_id: int | None = None,
    table: QueueTable | None = None,
) -> str | None:
    """Why a PENDING command is not running (``None`` for any other state): not
    due yet, held back by a pause or a full limit (which), no live worker for its
    kind, or due for the next claim."""
    return await _run(conn, _why_op(command_id, execution_id, table))


async def set_limit(
    conn: psycopg.AsyncConnection[Any],
    *,
    max_running: int,
    tool_kind: str | None = None,
    key: str | None = None,
    execution_id: int | str | None = None,
    every_execution: bool = False,
    table: QueueTable | None = None,
) -> Limit:
    """At most ``max_running`` commands of one key CLAIMED or RUNNING at once,
    across every worker: a tool kind, a concurrency key (set at enqueue), one
    execution, or (``every_execution=True``) each execution without its own."""
    scope = limit_scope(
        tool_kind=tool_kind, key=key, execution_id=execution_id, every_execution=every_execution
    )
    return await _run(conn, _set(scope, max_running, table))


async def clear_limit(
    conn: psycopg.AsyncConnection[Any],
    *,
    tool_kind: str | None = None,
    key: str | None = None,
    execution_id: int | str | None = None,
    every_execution: bool = False,
    table: QueueTable | None = None,
) -> Limit | None:
    """Remove a limit; the one removed, or ``None`` if it was not set."""
    scope = limit_scope(
        tool_kind=tool_kind, key=key, execution_id=execution_id, every_execution=every_execution
    )
    return await _run(conn, _clear(scope, table))


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


# -- sync twins -------------------------------------------------------------------------


def set_limit_sync(
    conn: psycopg.Connection[Any],
    *,
    max_running: int,
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
    return _run_sync(conn, _set(scope, max_running, table))


def clear_limit_sync(
    conn: psycopg.Connection[Any],
    *,
    tool_kind: str | None = None,
    key: str | None = None,
    execution_id: int | str | None = None,
    every_execution: bool = False,
    table: QueueTable | None = None,
) -> Limit | None:
    """`clear_limit` on a sync connection."""
    scope = limit_scope(
        tool_kind=tool_kind, key=key, execution_id=execution_id, every_execution=every_execution
    )
    return _run_sync(conn, _clear(scope, table))


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

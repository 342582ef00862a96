"""Enqueue commands inside the caller's own transaction.

`enqueue` and `enqueue_many` take an async psycopg connection; `enqueue_sync`
and `enqueue_many_sync` a sync one. All four validate every command first
(`pgqueue.newcommand`: a pydantic `ValidationError` naming the field, nothing
written), then write in one statement: ``INSERT … SELECT FROM unnest(…) ON
CONFLICT DO NOTHING``, so enqueueing the same ``(execution_id, command_id)``
twice is a no-op; or, for a bulk of new commands (no ids given, no delay), ids
drawn in one round trip while the commands are validated (pipeline mode), then
a ``COPY`` the rows are streamed into. Nothing is committed here: the caller's
transaction decides, and the insert trigger's single NOTIFY is delivered on
commit.

Ids: a command id left out is drawn from the table's snowflake generator. An
execution id left out makes the command its own execution, whose id is the
command's id (so ``(execution_id, command_id)`` stays unique, enqueueing a
given ``command_id`` twice is still a no-op, and a bulk draws one id a row).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from typing import Any

import psycopg

from pgqueue import tracing
from pgqueue.db.plans import Copy, Execute, Overlap, Plan, run_plan, run_plan_sync
from pgqueue.db.table import QueueTable
from pgqueue.newcommand import Checked, NewCommand, is_new, validate


class Enqueued(str):
    """A unique command's id, as `enqueue` returns it: ``duplicate`` when a
    command holding its key already waits or runs, whose id this is (nothing
    was written)."""

    __slots__ = ("duplicate",)

    duplicate: bool

    def __new__(cls, command_id: object, duplicate: bool = False) -> Enqueued:
        made = super().__new__(cls, str(command_id))
        made.duplicate = duplicate
        return made


def _params(checked: Checked, noetl: bool) -> dict[str, list[Any]]:
    """The statement's arrays; ``noetl``: with NoETL's own columns too."""
    columns = checked.columns
    params: dict[str, list[Any]] = {
        "execution_ids": columns["execution_id"],
        "command_ids": columns["command_id"],
        "steps": columns["step"],
        "tool_kinds": columns["tool_kind"],
        "contexts": checked.contexts,
        "priorities": columns["priority"],
        "max_attempts": columns["max_attempts"],
        "delays": [_seconds(d) for d in columns["delay"]],
    }
    if noetl:
        params.update(
            event_ids=columns["event_id"],
            catalog_ids=columns["catalog_id"],
            parent_execution_ids=columns["parent_execution_id"],
            parent_command_ids=columns["parent_command_id"],
            loop_event_ids=columns["loop_event_id"],
            iter_indexes=columns["iter_index"],
            metas=checked.metas(),
            concurrency_keys=columns["concurrency_key"],
        )
    return params


def _seconds(delay: timedelta | None) -> float:
    return delay.total_seconds() if delay else 0.0


#: From this many new commands up (no ids, no delay), enqueue uses COPY.
COPY_THRESHOLD = 200


def _may_copy(commands: Sequence[NewCommand | Mapping[str, Any]]) -> bool:
    """A bulk worth a COPY, by its first and last commands: a guess, confirmed
    after validation (a mixed bulk then takes the INSERT, its drawn ids unused)."""
    return len(commands) >= COPY_THRESHOLD and is_new(commands[0]) and is_new(commands[-1])


def _plan(commands: list[NewCommand | Mapping[str, Any]], queue: QueueTable) -> Plan[list[str]]:
    """The writes of a bulk enqueue, without I/O: the sync and async forms only
    drive this generator (each step's result is sent back into it).

    Every command is validated before anything is written. For a bulk of new
    commands the ids are drawn while the validation runs (ids drawn for
    commands that turn out invalid are simply never used), then the rows are
    streamed into COPY. Each command is its own execution: its execution id is
    its command id.
    """
    carried = tracing.carrier()  # the caller's trace, read in the caller's context
    if not _may_copy(commands) or carried is not None:
        return (yield from _insert(_traced(validate(commands), carried), queue))
    rows, checked = yield Overlap(
        queue.statement("snowflake_ids"),
        {"count": len(commands)},
        functools.partial(validate, commands),
    )
    if not checked.is_new():
        return (yield from _insert(checked, queue))
    ids: list[str] = rows[0][0].split(",")
    columns = checked.columns
    yield Copy(
        queue.statement("copy_commands"),
        zip(
            ids,
            ids,
            columns["step"],
            columns["tool_kind"],
            checked.contexts,
            columns["priority"],
            columns["max_attempts"],
            strict=True,
        ),
    )
    return ids


def _traced(checked: Checked, carried: dict[str, str] | None) -> Checked:
    """``checked`` with the trace context in each command's meta (`pgqueue.tracing`)."""
    if carried is None:
        return checked
    metas = checked.columns["meta"]
    checked.columns["meta"] = [{**(m or {}), tracing.META_KEY: carried} for m in metas]
    return checked


def _insert(checked: Checked, queue: QueueTable) -> Plan[list[str]]:
    """``INSERT … ON CONFLICT DO NOTHING`` of validated commands: their ids."""
    if not checked.contexts:
        return []
    if checked.gives_unique_keys():
        params = _params(checked, True)
        params["unique_keys"] = checked.columns["unique_key"]
        params["unique_whiles"] = [
            None if states is None else "|".join(states)
            for states in checked.columns["unique_while"]
        ]
        rows = yield Execute(queue.statement("enqueue_unique"), params)
        return [Enqueued(command_id, duplicate) for command_id, duplicate in rows]
    # NoETL's own columns are named only when given, so a table's own defaults
    # for them (if it has any) still apply to commands that leave them out
    noetl = checked.gives_noetl_columns()
    name = "enqueue_noetl" if noetl else "enqueue"
    rows = yield Execute(queue.statement(name), _params(checked, noetl))
    return [str(row[0]) for row in rows]


async def enqueue_many(
    conn: psycopg.AsyncConnection[Any],
    commands: Iterable[NewCommand | Mapping[str, Any]],
    *,
    table: QueueTable | None = None,
) -> list[str]:
    """Enqueue many commands in one statement; their command ids, in order."""
    commands = list(commands)
    with tracing.enqueueing(len(commands)):
        return await run_plan(conn, _plan(commands, table or QueueTable()))


def enqueue_many_sync(
    conn: psycopg.Connection[Any],
    commands: Iterable[NewCommand | Mapping[str, Any]],
    *,
    table: QueueTable | None = None,
) -> list[str]:
    """`enqueue_many` for a sync psycopg connection (the same plan, driven without await)."""
    commands = list(commands)
    with tracing.enqueueing(len(commands)):
        return run_plan_sync(conn, _plan(commands, table or QueueTable()))


def _one(
    step: str,
    tool_kind: str,
    input: Mapping[str, Any],
    execution_id: int | None,
    command_id: int | None,
    render_context: Mapping[str, Any] | None,
    delay: timedelta | float | None,
    priority: int,
    max_attempts: int | None,
    noetl: dict[str, Any],
) -> NewCommand:
    return NewCommand.model_validate(
        {
            **noetl,
            "step": step,
            "tool_kind": tool_kind,
            "input": input,
            "execution_id": execution_id,
            "command_id": command_id,
            "render_context": render_context,
            "delay": delay,
            "priority": priority,
            "max_attempts": max_attempts,
        }
    )


async def enqueue(
    conn: psycopg.AsyncConnection[Any],
    *,
    step: str,
    tool_kind: str,
    input: Mapping[str, Any],
    execution_id: int | None = None,
    command_id: int | None = None,
    render_context: Mapping[str, Any] | None = None,
    delay: timedelta | float | None = None,
    priority: int = 0,
    max_attempts: int | None = None,
    table: QueueTable | None = None,
    **noetl: Any,
) -> str:
    """Enqueue one ``PENDING`` command in the caller's transaction; its command id.

    ``noetl``: NoETL's own columns a producer sets (``event_id``, ``catalog_id``,
    ``parent_execution_id``, ``parent_command_id``, ``loop_event_id``,
    ``iter_index``, ``meta``; its control plane's table requires the first
    two), and ``concurrency_key``: the key a limit may name (a tenant, an
    external account; see `pgqueue.set_limit`).

    ``unique_key=K`` (``unique_while=``: the states, PENDING, CLAIMED and
    RUNNING if left out): while a command with key ``K`` is in one of them,
    nothing is written and the id returned is that command's, an `Enqueued`
    whose ``duplicate`` is true."""
    command = _one(
        step,
        tool_kind,
        input,
        execution_id,
        command_id,
        render_context,
        delay,
        priority,
        max_attempts,
        noetl,
    )
    (command_id_out,) = await enqueue_many(conn, [command], table=table)
    return command_id_out


def enqueue_sync(
    conn: psycopg.Connection[Any],
    *,
    step: str,
    tool_kind: str,
    input: Mapping[str, Any],
    execution_id: int | None = None,
    command_id: int | None = None,
    render_context: Mapping[str, Any] | None = None,
    delay: timedelta | float | None = None,
    priority: int = 0,
    max_attempts: int | None = None,
    table: QueueTable | None = None,
    **noetl: Any,
) -> str:
    """`enqueue` for a sync psycopg connection."""
    command = _one(
        step,
        tool_kind,
        input,
        execution_id,
        command_id,
        render_context,
        delay,
        priority,
        max_attempts,
        noetl,
    )
    (command_id_out,) = enqueue_many_sync(conn, [command], table=table)
    return command_id_out

"""``pgqueue show ID``: one command, as it stands, with its history."""

from __future__ import annotations

import argparse
import json
from typing import Any

import psycopg
from rich.console import Console
from rich.table import Table

from pgqueue import flow
from pgqueue.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    CliError,
    check_reachable,
    command_id,
    database_dsn,
    table_of,
)
from pgqueue.operations import CommandNotFound, CommandState, get

#: the history fields, in the order a command lives them
HISTORY = ("created_at", "due_at", "claimed_at", "started_at", "completed_at", "updated_at")


def render(state: CommandState, waiting: str | None = None) -> Table:
    table = Table(show_header=False, title=f"command {state.command_id}", title_justify="left")
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    rows: list[tuple[str, Any]] = [
        ("execution", state.execution_id),
        ("step", state.step_name),
        ("tool kind", state.tool_kind),
        ("status", state.status),
        # a PENDING command: why it is not running (`pgqueue.flow.why`)
        ("waiting", waiting),
        # `attempts` counts the attempts that failed: a command done at its first
        # try shows 0, which "attempts spent" made look like it never ran
        ("failed attempts", f"{state.attempts} (of {state.max_attempts} allowed)"),
        ("worker", state.worker_id),
        ("lease until", state.lease_expires_at),
        *((name.removesuffix("_at").replace("_", " "), getattr(state, name)) for name in HISTORY),
        ("error", state.error),
        ("result", None if state.result is None else json.dumps(state.result)[:2000]),
        ("context", json.dumps(state.context)[:2000]),
    ]
    if state.progress is not None:
        rows.insert(5, ("progress", json.dumps(state.progress)[:500]))
    for name, value in rows:
        if value is not None:
            table.add_row(name, str(value))
    return table


def attempts(state: CommandState) -> Table | None:
    """The attempts that did not complete, a row each (``None``: there were none)."""
    if not state.attempt_log:
        return None
    table = Table("attempt", "worker", "claimed", "started", "ended", "error", title="attempts")
    for entry in state.attempt_log:
        table.add_row(
            str(entry.get("attempt", "")),
            str(entry.get("worker") or ""),
            _time(entry.get("claimed_at")),
            _time(entry.get("started_at")),
            _time(entry.get("ended_at")),
            str(entry.get("error") or "")[:300],
        )
    return table


def _time(value: Any) -> str:
    """A jsonb timestamp as a person reads it: to the millisecond, no zone."""
    return "" if not value else str(value).replace("T", " ")[:23]


async def show(args: argparse.Namespace, console: Console) -> int:
    dsn = database_dsn(args)
    await check_reachable(dsn)
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        try:
            state = await get(conn, args.id, execution_id=args.execution_id, table=table_of(args))
        except CommandNotFound as exc:
            raise CliError(str(exc), EXIT_FAILED) from None
        waiting = await flow.why(
            conn, args.id, execution_id=state.execution_id, table=table_of(args)
        )
    if args.json:
        data = {k: getattr(state, k) for k in state.__dataclass_fields__}
        data["command_id"] = str(state.command_id)
        data["waiting"] = waiting
        print(json.dumps(data, indent=2, default=str))
    else:
        console.print(render(state, waiting))
        history = attempts(state)
        if history is not None:
            console.print(history)
    return EXIT_OK


def add_show(p: argparse.ArgumentParser) -> None:
    p.add_argument("id", type=command_id, metavar="COMMAND_ID", help="the command to show")
    p.add_argument("--execution-id", type=command_id, help="its execution (narrows the look-up)")
    p.add_argument("--json", action="store_true", help="machine-readable output")

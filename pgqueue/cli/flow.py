"""``pgqueue limit set|list|clear``, ``pgqueue pause`` and ``pgqueue resume``:
flow control at runtime, no worker restarted (`pgqueue.flow`)."""

from __future__ import annotations

import argparse
from typing import Any

from rich.console import Console
from rich.table import Table

from pgqueue import flow
from pgqueue.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    CliError,
    OneLineParser,
    command_id,
    database_dsn,
    open_pool,
    table_of,
)

LIMIT_EPILOG = """\
A limit holds at most N commands of its key CLAIMED or RUNNING at once, across
every worker, from the next claim after it is set; a command under several
limits is claimed only when all of them have room. Lowering one interrupts
nothing: new claims wait until fewer run. A lease that runs out keeps its
place for the command's rescue.

examples:
  pgqueue limit set --tool-kind http --max-running 10
  pgqueue limit set --key tenant-42 --max-running 3     # enqueue --concurrency-key tenant-42
  pgqueue limit set --every-execution --max-running 5
  pgqueue limit set --execution 1796125936902001 --max-running 20
  pgqueue limit list
  pgqueue limit clear --key tenant-42
"""


def add_limit(p: argparse.ArgumentParser, common: OneLineParser) -> None:
    """``limit``'s own verbs, each with the flags every verb takes (``common``)."""
    p.epilog = LIMIT_EPILOG
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    verbs = p.add_subparsers(
        dest="limit_verb",
        required=True,
        metavar="set|list|clear",
        help="what to do with limits",
        parser_class=OneLineParser,
    )
    setting = verbs.add_parser(
        "set",
        help="set or change a limit",
        description="set or change a concurrency limit",
        parents=[common],
    )
    _scope(setting)
    setting.add_argument(
        "--max-running",
        type=_positive,
        required=True,
        metavar="N",
        help="at most N commands of the key CLAIMED or RUNNING at once",
    )
    verbs.add_parser(
        "list",
        help="every limit, with what runs under it and what waits",
        description="every limit, with what runs under it and what waits",
        parents=[common],
    )
    clearing = verbs.add_parser(
        "clear", help="remove a limit", description="remove a limit", parents=[common]
    )
    _scope(clearing)


def _scope(p: argparse.ArgumentParser) -> None:
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--tool-kind", metavar="KIND", help="the commands of this tool kind")
    which.add_argument(
        "--key", metavar="KEY", help="the commands enqueued with this --concurrency-key"
    )
    which.add_argument(
        "--execution", type=command_id, metavar="ID", help="the commands of this one execution"
    )
    which.add_argument(
        "--every-execution",
        action="store_true",
        help="each execution's commands (an execution's own limit comes first)",
    )


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _scope_of(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "tool_kind": args.tool_kind,
        "key": args.key,
        "execution_id": args.execution,
        "every_execution": args.every_execution,
    }


async def limit(args: argparse.Namespace, console: Console) -> int:
    dsn = database_dsn(args)
    table = table_of(args)
    try:
        async with open_pool(dsn, max_size=1) as pool, pool.connection() as conn:
            match args.limit_verb:
                case "set":
                    done = await flow.set_limit(
                        conn, max_running=args.max_running, table=table, **_scope_of(args)
                    )
                    console.print(f"limit set: {done.name}, at most {done.max_running} running")
                case "clear":
                    removed = await flow.clear_limit(conn, table=table, **_scope_of(args))
                    if removed is None:
                        console.print("no such limit: nothing cleared")
                        return EXIT_FAILED
                    console.print(f"limit cleared: {removed.name}")
                case _:
                    _print_limits(console, await flow.limits(conn, table=table))
    except flow.InvalidLimit as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    return EXIT_OK


def _print_limits(console: Console, limits: list[flow.Limit]) -> None:
    if not limits:
        console.print("no limits set")
        return
    table = Table(title="concurrency limits", title_justify="left")
    for column in ("limit", "max running", "running", "due, waiting"):
        table.add_column(column, justify="left" if column == "limit" else "right")
    for each in limits:
        running = "·" if each.scope == "every_execution" else str(each.running)
        waiting = "·" if each.scope == "every_execution" else str(each.waiting)
        table.add_row(each.name, str(each.max_running), running, waiting)
    console.print(table)


def add_pause(p: argparse.ArgumentParser) -> None:
    p.add_argument("tool_kinds", nargs="+", metavar="KIND", help="the tool kinds to pause")
    p.add_argument("--reason", help="why, shown by pgqueue status (an incident, a ticket)")


def add_resume(p: argparse.ArgumentParser) -> None:
    p.add_argument("tool_kinds", nargs="+", metavar="KIND", help="the tool kinds to resume")


async def pause(args: argparse.Namespace, console: Console) -> int:
    async with open_pool(database_dsn(args), max_size=1) as pool, pool.connection() as conn:
        paused = await flow.pause(conn, args.tool_kinds, reason=args.reason, table=table_of(args))
    kinds = ", ".join(p.tool_kind for p in paused)
    console.print(
        f"paused {kinds}: no worker claims them from its next claim; running ones finish",
        highlight=False,
    )
    return EXIT_OK


async def resume(args: argparse.Namespace, console: Console) -> int:
    async with open_pool(database_dsn(args), max_size=1) as pool, pool.connection() as conn:
        resumed = await flow.resume(conn, args.tool_kinds, table=table_of(args))
    lifted = {p.tool_kind for p in resumed}
    if lifted:
        console.print("resumed " + ", ".join(sorted(lifted)), highlight=False)
    others = [k for k in args.tool_kinds if k not in lifted]
    if others:
        console.print("not paused: " + ", ".join(others), highlight=False)
    return EXIT_OK if lifted else EXIT_FAILED

"""``pgqueue limit set|list|clear``, ``pgqueue pause``, ``pgqueue resume`` and
``pgqueue fair-share``: flow control at runtime, no worker restarted
(`pgqueue.flow`)."""

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
A limit holds at most N commands of its key CLAIMED or RUNNING at once
(--max-running), lets at most N of them start in any window of PERIOD
(--rate N/PERIOD), or both, across every worker, from the next claim after it
is set. A command under several limits is claimed only when all of them have
room. Lowering one interrupts nothing: new claims wait until fewer run, or
until the window has room. A lease that runs out keeps its place for the
command's rescue; a rescue is a start, counted by a rate.

examples:
  pgqueue limit set --tool-kind http --max-running 10
  pgqueue limit set --tool-kind http --rate 50/1s          # keeps --max-running 10
  pgqueue limit set --key tenant-42 --max-running 3     # enqueue --concurrency-key tenant-42
  pgqueue limit set --every-execution --max-running 5
  pgqueue limit set --execution 1796125936902001 --max-running 20
  pgqueue limit list
  pgqueue limit clear --tool-kind http --rate              # only the rate
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
        metavar="N",
        help="at most N commands of the key CLAIMED or RUNNING at once",
    )
    setting.add_argument(
        "--rate",
        type=_rate,
        metavar="N/PERIOD",
        help="at most N commands of the key start in any window of PERIOD (50/1s, 1000/1h)",
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
    lever = clearing.add_mutually_exclusive_group()
    lever.add_argument(
        "--max-running",
        dest="lever",
        action="store_const",
        const="max_running",
        help="clear only the limit's --max-running (it goes if nothing else is left)",
    )
    lever.add_argument(
        "--rate",
        dest="lever",
        action="store_const",
        const="rate",
        help="clear only the limit's --rate (it goes if nothing else is left)",
    )


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


def _rate(text: str) -> flow.Rate:
    try:
        return flow.Rate.parse(text)
    except flow.InvalidLimit as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("rate: ")) from None


def _scope_of(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "tool_kind": args.tool_kind,
        "key": args.key,
        "execution_id": args.execution,
        "every_execution": args.every_execution,
    }


async def limit(args: argparse.Namespace, console: Console) -> int:
    if args.limit_verb == "set" and args.max_running is None and args.rate is None:
        raise CliError("give --max-running N, --rate N/PERIOD or both", EXIT_USAGE)
    dsn = database_dsn(args)
    table = table_of(args)
    try:
        async with open_pool(dsn, max_size=1) as pool, pool.connection() as conn:
            match args.limit_verb:
                case "set":
                    done = await flow.set_limit(
                        conn,
                        max_running=args.max_running,
                        rate=args.rate,
                        table=table,
                        **_scope_of(args),
                    )
                    console.print(f"limit set: {done.name}, {done.levers}", highlight=False)
                case "clear":
                    removed = await flow.clear_limit(
                        conn, lever=args.lever, table=table, **_scope_of(args)
                    )
                    if removed is None:
                        what = "limit" if args.lever is None else f"{args.lever} on that key"
                        console.print(f"no such {what}: nothing cleared", highlight=False)
                        return EXIT_FAILED
                    lever = "" if args.lever is None else f" ({args.lever.replace('_', '-')})"
                    console.print(f"limit cleared: {removed.name}{lever}", highlight=False)
                case _:
                    _print_limits(console, await flow.limits(conn, table=table))
    except flow.InvalidLimit as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    return EXIT_OK


def _print_limits(console: Console, limits: list[flow.Limit]) -> None:
    if not limits:
        console.print("no limits set")
        return
    console.print(limits_table([limit_row(each) for each in limits]))


def limit_row(each: flow.Limit) -> dict[str, Any]:
    """One limit as `pgqueue status --json` and `limits_table` show it: what it
    allows and, but for the default of every execution (which has no one
    count), how it stands."""
    row: dict[str, Any] = {
        "limit": each.name,
        "max_running": each.max_running,
        "rate": None if each.rate is None else str(each.rate),
    }
    if each.scope != "every_execution":
        row |= {"running": each.running, "waiting": each.waiting}
        if each.rate is not None:
            row |= {"started": each.started, "next_start": each.next_start}
    return row


def limits_table(rows: list[dict[str, Any]]) -> Table:
    """The limits of `limit_row`, for a person: what runs of what it allows,
    what started of what its rate allows, and a dot where a lever is not set
    (or, for every execution, where each execution counts apart)."""
    table = Table(title="limits", title_justify="left")
    for column in ("limit", "running", "started", "next start", "waiting"):
        table.add_column(
            column,
            justify="left" if column in ("limit", "started") else "right",
            no_wrap=True,
        )
    for row in rows:
        running, at_most = row.get("running"), row["max_running"]
        started, rate = row.get("started"), row["rate"]
        next_start = row.get("next_start")
        each = "running" not in row  # the default for every execution
        table.add_row(
            row["limit"],
            _of(running, at_most, each),
            _of(started, rate, each),
            "·" if next_start is None else f"{next_start:%H:%M:%S.%f}"[:-3],
            _dot(row.get("waiting")),
        )
    return table


def _of(count: object, allowed: object, each: bool) -> str:
    if allowed is None:
        return "·"
    return f"{allowed} each" if each else f"{_dot(count)} of {allowed}"


def _dot(value: object) -> str:
    return "·" if value is None else str(value)


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


FAIR_SHARE_EPILOG = """\
With fair share, one claim of N commands spreads them round-robin over the
executions (or concurrency keys) with due commands, the one with the fewest
running first, priority still first: an execution with 1,000 due commands
gets no bigger share than one with a single command. For the whole fleet,
from each worker's next claims. It costs claim speed (docs/performance.md):
off by default.

examples:
  pgqueue fair-share execution
  pgqueue fair-share key        # commands enqueued with --concurrency-key
  pgqueue fair-share off
  pgqueue fair-share            # what is set
"""


def add_fair_share(p: argparse.ArgumentParser) -> None:
    p.epilog = FAIR_SHARE_EPILOG
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument(
        "over",
        nargs="?",
        choices=("execution", "key", "off"),
        help="what claims spread over (none: show what is set)",
    )


async def fair_share(args: argparse.Namespace, console: Console) -> int:
    async with open_pool(database_dsn(args), max_size=1) as pool, pool.connection() as conn:
        if args.over is None:
            now = await flow.fair_share(conn, table=table_of(args))
        else:
            now = await flow.set_fair_share(conn, args.over, table=table_of(args))
    if now is None:
        console.print("fair share: off (claims take the oldest due commands first)")
    else:
        plural = "executions" if now == "execution" else "concurrency keys"
        console.print(f"fair share: over {plural} (each claim round-robin, fewest running first)")
    return EXIT_OK

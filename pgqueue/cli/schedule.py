"""``pgqueue schedule add|list|remove|pause|resume|run-now``: periodic commands
at runtime, no worker restarted (`pgqueue.schedules`)."""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.table import Table

import pgqueue
from pgqueue.cli.common import (
    EXIT_OK,
    EXIT_USAGE,
    CliError,
    OneLineParser,
    database_dsn,
    open_pool,
    table_of,
)
from pgqueue.cron import LATE, MOST_BACKFILLED, InvalidSchedule
from pgqueue.schedules import Schedule

EPILOG = f"""\
Every worker enqueues the schedules' ticks (unless started --no-schedules),
each tick exactly once across the fleet, with no leader. A tick's command has
{{"schedule": NAME, "tick": "<UTC time>"}} in its meta. A tick found more than
{int(LATE.total_seconds())} s late was missed (no worker ran): --missed skip (the default)
drops it, --missed backfill enqueues the latest --backfill N of them and/or
those within --backfill-window (at most {MOST_BACKFILLED}).

cron: 5 fields (minute hour day month weekday) or 6 (seconds first), in
--timezone (default UTC), with Debian cron's rules on the nights the clock
changes: a time skipped runs right after the change, a time repeated runs once.

examples:
  pgqueue schedule add nightly --cron "0 3 * * *" --timezone Europe/Berlin \\
      --step report --tool-kind http --input '{{"url": "https://example.org/report"}}'
  pgqueue schedule add ping --every 30s --step ping --tool-kind noop \\
      --missed backfill --backfill 10
  pgqueue schedule list
  pgqueue schedule pause nightly --reason "the API is down"
  pgqueue schedule resume nightly
  pgqueue schedule run-now nightly
  pgqueue schedule remove ping
"""


def add_schedule(p: argparse.ArgumentParser, common: OneLineParser) -> None:
    """``schedule``'s own verbs, each with the flags every verb takes (``common``)."""
    p.epilog = EPILOG
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    verbs = p.add_subparsers(
        dest="schedule_verb",
        required=True,
        metavar="add|list|remove|pause|resume|run-now",
        help="what to do with schedules",
        parser_class=OneLineParser,
    )
    adding = verbs.add_parser(
        "add",
        help="add a schedule, or change one (a changed timing starts from now)",
        description="add a schedule, or change one (a changed timing starts from now)",
        parents=[common],
    )
    adding.add_argument("name", help="the schedule's name")
    when = adding.add_mutually_exclusive_group(required=True)
    when.add_argument("--cron", metavar="EXPR", help="a cron expression: 5 fields, or 6")
    when.add_argument("--every", metavar="DURATION", help="a fixed interval (30s, 5m, 1h)")
    adding.add_argument("--timezone", default="UTC", help="the cron's time zone (IANA name)")
    adding.add_argument("--step", required=True, help="the command's step name")
    adding.add_argument("--tool-kind", required=True, help="the command's tool kind")
    adding.add_argument("--input", default="{}", metavar="JSON", help="the command's input")
    adding.add_argument("--priority", type=int, default=0, help="the command's priority")
    adding.add_argument("--max-attempts", type=int, metavar="N", help="the command's attempts")
    adding.add_argument("--concurrency-key", metavar="KEY", help="the command's key")
    adding.add_argument(
        "--missed",
        choices=("skip", "backfill"),
        default="skip",
        help="what happens to ticks missed while no worker ran (default: skip)",
    )
    adding.add_argument("--backfill", type=int, metavar="N", help="backfill the latest N")
    adding.add_argument(
        "--backfill-window", metavar="DURATION", help="backfill those within DURATION"
    )
    verbs.add_parser(
        "list",
        help="every schedule, with its last and next tick",
        description="every schedule, with its last and next tick",
        parents=[common],
    )
    for verb, says in (
        ("remove", "remove a schedule (what it enqueued stays)"),
        ("pause", "pause a schedule (its ticks meanwhile are not enqueued)"),
        ("resume", "resume a schedule from its next tick"),
        ("run-now", "enqueue a schedule's command now, apart from its ticks"),
    ):
        named = verbs.add_parser(verb, help=says, description=says, parents=[common])
        named.add_argument("name", help="the schedule's name")
        if verb == "pause":
            named.add_argument("--reason", help="why, for status and the dashboard")


def _command(args: argparse.Namespace) -> dict[str, Any]:
    try:
        given = json.loads(args.input)
    except json.JSONDecodeError as exc:
        raise CliError(f"--input: not JSON ({exc.msg})", EXIT_USAGE) from None
    command: dict[str, Any] = {
        "step": args.step,
        "tool_kind": args.tool_kind,
        "input": given,
        "priority": args.priority,
    }
    for field in ("max_attempts", "concurrency_key"):
        if getattr(args, field) is not None:
            command[field] = getattr(args, field)
    return command


async def schedule(args: argparse.Namespace, console: Console) -> int:
    dsn, table = database_dsn(args), table_of(args)
    try:
        async with open_pool(dsn, max_size=1) as pool, pool.connection() as conn:
            match args.schedule_verb:
                case "add":
                    done = await pgqueue.add_schedule(
                        conn,
                        args.name,
                        command=_command(args),
                        cron=args.cron,
                        every=args.every,
                        timezone=args.timezone,
                        missed=args.missed,
                        backfill=args.backfill,
                        backfill_window=args.backfill_window,
                        table=table,
                    )
                    console.print(
                        f"schedule {done.name}: {done.when}, next tick {_at(done.next_tick)}",
                        highlight=False,
                    )
                case "list":
                    found = await pgqueue.schedules(conn, table=table)
                    if not found:
                        console.print("no schedules")
                    else:
                        console.print(schedules_table([schedule_row(s) for s in found]))
                case "remove":
                    gone = await pgqueue.remove_schedule(conn, args.name, table=table)
                    console.print(f"schedule {gone.name} removed", highlight=False)
                case "pause":
                    await pgqueue.pause_schedule(conn, args.name, reason=args.reason, table=table)
                    console.print(f"schedule {args.name} paused", highlight=False)
                case "resume":
                    back = await pgqueue.resume_schedule(conn, args.name, table=table)
                    console.print(
                        f"schedule {back.name} resumed: next tick {_at(back.next_tick)}",
                        highlight=False,
                    )
                case _:
                    (command_id,) = await pgqueue.run_schedule_now(conn, args.name, table=table)
                    console.print(f"enqueued {command_id} for {args.name}", highlight=False)
    except InvalidSchedule as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    return EXIT_OK


def _at(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def schedule_row(each: Schedule) -> dict[str, Any]:
    """One schedule as `pgqueue status --json` and `schedules_table` show it."""
    return {
        "schedule": each.name,
        "when": each.when,
        "command": f"{each.command['step_name']} ({each.command['tool_kind']})",
        "missed": each.policy.missed,
        "last_tick": each.last_tick.isoformat(),
        "next_tick": None if each.paused else each.next_tick.isoformat(),
        "paused": each.paused_reason or ("paused" if each.paused else None),
    }


def schedules_table(rows: list[dict[str, Any]]) -> Table:
    table = Table("schedule", "when", "command", "last tick", "next tick", title="schedules")
    for row in rows:
        next_tick = row["next_tick"] or f"paused: {row['paused']}"
        table.add_row(
            row["schedule"],
            row["when"],
            row["command"],
            _short(row["last_tick"]),
            _short(next_tick),
        )
    return table


def _short(text: str) -> str:
    """An ISO time as a person reads it in a table: to the second, UTC."""
    if text[:4].isdigit():
        return datetime.fromisoformat(text).strftime("%Y-%m-%d %H:%M:%S")
    return text

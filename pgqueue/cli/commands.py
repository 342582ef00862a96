"""The queue verbs: ``migrate``, ``enqueue``, ``requeue``, ``cancel``, ``prune``.

Each verb is an ``add_<verb>`` that declares its arguments and an async
``<verb>`` handler that returns an exit code.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

import psycopg
from alembic.util import CommandError
from pydantic import ValidationError
from rich.console import Console

from pgqueue import migrate as migrations
from pgqueue import operations
from pgqueue.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    CliError,
    check_reachable,
    command_id,
    database_dsn,
    duration,
    json_object,
    open_pool,
    positive_int,
    say,
    schema_of,
    table_of,
)
from pgqueue.db.gateway import Gateway
from pgqueue.db.outbox import Outbox
from pgqueue.enqueue import enqueue_many
from pgqueue.newcommand import NewCommand
from pgqueue.registry import STALE


async def migrate(args: argparse.Namespace, console: Console) -> int:
    if args.alembic_ini:
        # for `alembic -c "$(pgqueue migrate --alembic-ini)" upgrade head`
        print(migrations.ALEMBIC_INI)
        return EXIT_OK
    dsn = database_dsn(args)
    await check_reachable(dsn)
    before = await asyncio.to_thread(migrations.current, dsn, schema=schema_of(args))
    try:
        if args.downgrade:
            await asyncio.to_thread(
                migrations.downgrade, dsn, args.downgrade, schema=schema_of(args)
            )
        else:
            roles = migrations.Roles(worker=args.worker_role, producer=args.producer_role)
            await asyncio.to_thread(
                migrations.upgrade, dsn, args.revision, schema=schema_of(args), roles=roles
            )
    except CommandError as exc:
        # alembic's own word for a revision it does not know
        flag = "--downgrade" if args.downgrade else "--revision"
        raise CliError(
            f"{flag}: {exc} (this pgqueue's revisions run up to {migrations.head()})",
            EXIT_USAGE,
        ) from None
    after = await asyncio.to_thread(migrations.current, dsn, schema=schema_of(args))
    if before == after:
        console.print(f"schema {schema_of(args)}: already at {after or 'base'}")
    else:
        console.print(f"schema {schema_of(args)}: {before or 'base'} → {after or 'base'}")
    return EXIT_OK


#: the flags that describe one command (a --jsonl line carries its own)
_PER_COMMAND = (
    "--step",
    "--tool-kind",
    "--input",
    "--render-context",
    "--execution-id",
    "--command-id",
    "--concurrency-key",
    "--unique-key",
    "--unique-while",
    "--delay",
    "--max-attempts",
)

#: what a --jsonl line may hold (``pgqueue enqueue --help``)
JSONL_FIELDS = """\
--jsonl FILE: one JSON object per line, each a command with these fields:
  step, tool_kind (required)   strings
  input                        a JSON object (default {})
  render_context               a JSON object
  execution_id, command_id     integers (default: new ids)
  delay                        seconds (a number) before it is due
  priority                     an integer, higher first (default 0)
  max_attempts                 an integer >= 1 (default 5)
  concurrency_key              a string a limit may name (pgqueue limit set --key)
  unique_key, unique_while     a key no other waiting or running command may hold,
                               and the states that hold it (a list of names)
  event_id, catalog_id, parent_execution_id, parent_command_id, loop_event_id,
  iter_index, meta             NoETL's own columns, written only when given
Example: {"step": "fetch", "tool_kind": "http", "input": {"url": "https://x"}}
"""


def _commands_from(args: argparse.Namespace) -> list[tuple[int, Any]]:
    """The commands to enqueue, each with its line number in ``--jsonl`` (0: flags)."""
    if args.jsonl:
        given = [f for f in _PER_COMMAND if getattr(args, f.lstrip("-").replace("-", "_"))]
        if args.priority:
            given.append("--priority")
        if given:
            raise CliError(
                f"--jsonl takes each command whole from its lines: {', '.join(given)} "
                "is not used with it (put the field in each line)",
                EXIT_USAGE,
            )
        try:
            stream = sys.stdin if args.jsonl == "-" else open(args.jsonl, encoding="utf-8")  # noqa: SIM115
        except OSError as exc:
            raise CliError(f"--jsonl {args.jsonl}: {exc.strerror}", EXIT_USAGE) from None
        items = []
        with stream:
            for number, line in enumerate(stream, 1):
                if line.strip():
                    try:
                        parsed = json.loads(line)
                    except ValueError as exc:
                        raise CliError(
                            f"line {number}: not valid JSON: {exc}", EXIT_USAGE
                        ) from None
                    if isinstance(parsed, dict):
                        # the same rule as --step/--tool-kind: no input is {}
                        parsed.setdefault("input", {})
                    items.append((number, parsed))
        return items
    if args.step is None or args.tool_kind is None:
        raise CliError("enqueue needs --step and --tool-kind (or --jsonl FILE)", EXIT_USAGE)
    item: dict[str, Any] = {
        "step": args.step,
        "tool_kind": args.tool_kind,
        "input": args.input if args.input is not None else {},
        "priority": args.priority,
    }
    for key in (
        "execution_id",
        "command_id",
        "render_context",
        "max_attempts",
        "concurrency_key",
        "unique_key",
        "unique_while",
    ):
        if getattr(args, key) is not None:
            item[key] = getattr(args, key)
    if args.delay is not None:
        item["delay"] = args.delay
    return [(0, item)]


def _validation_message(exc: ValidationError, line: int) -> str:
    """One line: where (``line 3: input: …`` in a JSONL file), then each problem."""
    problems = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"]) or "command"
        problems.append(f"{where}: {error['msg']}")
    return (f"line {line}: " if line else "") + "; ".join(problems)


async def enqueue(args: argparse.Namespace, console: Console) -> int:
    commands = []
    for line, item in _commands_from(args):
        try:
            commands.append(NewCommand.model_validate(item))
        except ValidationError as exc:
            raise CliError(_validation_message(exc, line), EXIT_USAGE) from None
    dsn = database_dsn(args)
    await check_reachable(dsn)
    table = table_of(args)
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        ids = await enqueue_many(conn, commands, table=table)
        await conn.commit()
        kinds = sorted({c.tool_kind for c in commands})
        cur = await conn.execute(
            table.statement("registry_unserved"), {"tool_kinds": kinds, "stale": STALE}
        )
        unserved = [row[0] for row in await cur.fetchall()]
    for enqueued in ids:
        # a unique command's key held by another: its id, and nothing written
        held = getattr(enqueued, "duplicate", False)
        console.print(
            f"{enqueued} (a duplicate: its key is held)" if held else enqueued, highlight=False
        )
    for kind in unserved:
        say(
            args.command,
            f"warning: no live worker serves tool kind {kind!r}: its commands wait until "
            f"one does (start one with a tool for it: pgqueue worker --tools MODULE)",
            action="unserved",
            tool_kind=kind,
        )
    return EXIT_OK


async def requeue(args: argparse.Namespace, console: Console) -> int:
    if args.reports:
        return await requeue_reports(args, console)
    if not (args.ids or args.execution_id or args.tool_kind or args.step or args.all):
        raise CliError(
            "say which FAILED commands: ids, --execution-id, --tool-kind, --step, or --all",
            EXIT_USAGE,
        )
    dsn = database_dsn(args)
    async with open_pool(dsn, max_size=2) as pool, pool.connection() as conn:
        count = len(
            await operations.requeue(
                conn,
                args.ids or None,
                execution_id=args.execution_id,
                tool_kind=args.tool_kind,
                step=args.step,
                table=table_of(args),
                every=args.all,
            )
        )
    if count or not args.ids:
        console.print(f"requeued {count} command(s)")
        return EXIT_OK if count else EXIT_FAILED
    # nothing matched the ids given: say what each of them is instead
    async with open_pool(dsn, max_size=1) as pool:
        found = await Gateway(pool, table_of(args)).read(
            "command_states", {"command_ids": list(args.ids)}
        )
    states = {int(r["command_id"]): r["status"] for r in found}
    reasons = [
        f"command {i} is {states[i]}, not FAILED" if i in states else f"no command {i}"
        for i in args.ids
    ]
    console.print(f"requeued 0 commands: {'; '.join(reasons)}")
    return EXIT_FAILED


async def cancel(args: argparse.Namespace, console: Console) -> int:
    if not (args.ids or args.execution_id or args.tool_kind or args.step or args.all):
        raise CliError(
            "say which unfinished commands: ids, --execution-id, --tool-kind, --step, or --all",
            EXIT_USAGE,
        )
    dsn = database_dsn(args)
    async with open_pool(dsn, max_size=2) as pool, pool.connection() as conn:
        cancelled = await operations.cancel(
            conn,
            args.ids or None,
            execution_id=args.execution_id,
            tool_kind=args.tool_kind,
            step=args.step,
            reason=args.reason,
            table=table_of(args),
            every=args.all,
        )
    done = {int(c) for c in cancelled}
    console.print(f"cancelled {len(done)} command(s)")
    missed = [i for i in args.ids if i not in done]
    if missed:
        console.print(
            "not cancelled (already finished, or no such command): " + ", ".join(map(str, missed)),
            highlight=False,
        )
    return EXIT_OK if done and not missed else EXIT_FAILED


# -- arguments ----------------------------------------------------------------------------


def add_migrate(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--worker-role",
        default=migrations.Roles.worker,
        metavar="ROLE",
        help="the role granted what a worker needs (default: pgqueue_worker; roles are "
        "cluster-wide: name one per database)",
    )
    p.add_argument(
        "--producer-role",
        default=migrations.Roles.producer,
        metavar="ROLE",
        help="the role granted what a producer needs (default: pgqueue_producer)",
    )
    p.add_argument("--revision", default="head", help="upgrade to this revision (default: head)")
    p.add_argument(
        "--alembic-ini",
        action="store_true",
        help="print the path of the alembic.ini this package ships, and exit: "
        'alembic -c "$(pgqueue migrate --alembic-ini)" -x dsn=… upgrade head',
    )
    p.add_argument("--downgrade", metavar="REVISION", help="downgrade instead, e.g. to 'base'")


def add_enqueue(p: argparse.ArgumentParser) -> None:
    p.epilog = JSONL_FIELDS
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument("--step", help="step name")
    p.add_argument("--tool-kind", help="tool kind that runs it, e.g. http")
    p.add_argument("--input", type=json_object, help="input JSON object; @file or - for stdin")
    p.add_argument("--render-context", type=json_object, help="render context JSON object")
    p.add_argument("--execution-id", type=command_id, help="execution id (default: a new one)")
    p.add_argument("--command-id", type=command_id, help="command id (default: a new one)")
    p.add_argument(
        "--delay",
        type=duration,
        help="not before this long from now, e.g. 30s, 5m (a bare number is seconds)",
    )
    p.add_argument("--priority", type=int, default=0, help="higher runs first (default: 0)")
    p.add_argument("--max-attempts", type=positive_int, help="attempts before FAILED (default: 5)")
    p.add_argument(
        "--concurrency-key",
        metavar="KEY",
        help="a tenant, an account…: what `pgqueue limit set --key KEY` limits",
    )
    p.add_argument(
        "--unique-key",
        metavar="KEY",
        help="write nothing while a command with this key waits or runs: its id is printed",
    )
    p.add_argument(
        "--unique-while",
        nargs="+",
        metavar="STATE",
        help="the states that hold --unique-key (default: PENDING CLAIMED RUNNING)",
    )
    p.add_argument(
        "--jsonl",
        metavar="FILE",
        help="many commands, one JSON object per line ('-': stdin); its fields below",
    )


async def requeue_reports(args: argparse.Namespace, console: Console) -> int:
    """``requeue --reports``: send the reports a control plane refused again."""
    if args.execution_id or args.tool_kind or args.step or args.all:
        raise CliError("--reports takes report ids, or none for every parked report", EXIT_USAGE)
    dsn = database_dsn(args)
    async with open_pool(dsn, max_size=1) as pool:
        count = await Outbox(pool, table_of(args)).requeue(args.ids or None)
    if count:
        console.print(f"requeued {count} report(s): a worker's relay sends them again")
        return EXIT_OK
    console.print("requeued 0 reports: none is parked" + (" with those ids" if args.ids else ""))
    return EXIT_FAILED


def add_requeue(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "ids", nargs="*", type=command_id, metavar="COMMAND_ID", help="these FAILED commands"
    )
    p.add_argument("--execution-id", type=command_id, help="only commands of this execution")
    p.add_argument("--tool-kind", help="only commands of this tool kind")
    p.add_argument("--step", help="only commands of this step")
    p.add_argument("--all", action="store_true", help="every FAILED command")
    p.add_argument(
        "--reports",
        action="store_true",
        help="instead: send the reports a control plane refused again (all, or the report "
        "ids given; pgqueue status lists them)",
    )


def add_cancel(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "ids", nargs="*", type=command_id, metavar="COMMAND_ID", help="these unfinished commands"
    )
    p.add_argument(
        "--execution-id",
        type=command_id,
        help="only commands of this execution (with ids: narrows the look-up)",
    )
    p.add_argument("--tool-kind", help="only commands of this tool kind")
    p.add_argument("--step", help="only commands of this step")
    p.add_argument("--all", action="store_true", help="every unfinished command")
    p.add_argument("--reason", help="recorded in the error column")

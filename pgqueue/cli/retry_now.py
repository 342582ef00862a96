"""``pgqueue retry-now``: commands waiting out a delay or a retry's backoff,
due at once (`pgqueue.retry_now`)."""

from __future__ import annotations

import argparse

from rich.console import Console

from pgqueue import operations
from pgqueue.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    CliError,
    command_id,
    database_dsn,
    open_pool,
    table_of,
)


def add_retry_now(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "ids",
        nargs="*",
        type=command_id,
        metavar="COMMAND_ID",
        help="these PENDING commands, waiting out a delay or a retry's backoff",
    )
    p.add_argument("--execution-id", type=command_id, help="only commands of this execution")
    p.add_argument("--tool-kind", help="only commands of this tool kind")
    p.add_argument("--step", help="only commands of this step")
    p.add_argument("--all", action="store_true", help="every command waiting to be due")


async def retry_now(args: argparse.Namespace, console: Console) -> int:
    if not (args.ids or args.execution_id or args.tool_kind or args.step or args.all):
        raise CliError(
            "say which waiting commands: ids, --execution-id, --tool-kind, --step, or --all",
            EXIT_USAGE,
        )
    async with open_pool(database_dsn(args), max_size=1) as pool, pool.connection() as conn:
        made_due = await operations.retry_now(
            conn,
            args.ids or None,
            execution_id=args.execution_id,
            tool_kind=args.tool_kind,
            step=args.step,
            table=table_of(args),
            every=args.all,
        )
    console.print(f"{len(made_due)} command(s) due now")
    missed = [i for i in args.ids if str(i) not in made_due]
    if missed:
        console.print(
            "not waiting (not PENDING, already due, or no such command): "
            + ", ".join(map(str, missed)),
            highlight=False,
        )
    return EXIT_OK if made_due and not missed else EXIT_FAILED

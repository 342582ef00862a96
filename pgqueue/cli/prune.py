"""``pgqueue prune``: delete finished commands older than a window, now (the
worker's `pgqueue.retention` does it on a schedule)."""

from __future__ import annotations

import argparse

from rich.console import Console

from pgqueue import retention as retentions
from pgqueue.cli.common import (
    EXIT_OK,
    EXIT_USAGE,
    CliError,
    database_dsn,
    human,
    open_pool,
    table_of,
    window,
)
from pgqueue.db.gateway import Gateway


async def prune(args: argparse.Namespace, console: Console) -> int:
    dsn = database_dsn(args)
    async with open_pool(dsn, max_size=2) as pool:
        gateway = Gateway(pool, table_of(args))
        if not args.yes and not await retentions.created_by_pgqueue(gateway):
            raise CliError(
                "this table was not created by pgqueue (NoETL reads its finished rows); "
                "pass --yes to prune it anyway",
                EXIT_USAGE,
            )
        policy = retentions.Retention(args.older_than, include_failed=args.include_failed)
        if args.dry_run:
            count = await retentions.prunable(
                gateway, older_than=policy.older_than, statuses=policy.statuses
            )
            console.print(
                f"would prune {count} command(s) finished more than {human(args.older_than)} "
                "ago (dry run: nothing deleted)"
            )
            return EXIT_OK
        deleted = await retentions.prune(
            gateway, older_than=policy.older_than, statuses=policy.statuses
        )
    console.print(f"pruned {deleted} command(s) finished more than {human(args.older_than)} ago")
    return EXIT_OK


def add_prune(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--older-than",
        type=window,
        required=True,
        metavar="WINDOW",
        help="finished more than this long ago, with its unit: 7d, 36h, 90m (a bare "
        "number is refused: 7 would mean seconds)",
    )
    p.add_argument("--include-failed", action="store_true", help="also delete FAILED rows")
    p.add_argument(
        "--dry-run", action="store_true", help="count what would be deleted; delete nothing"
    )
    p.add_argument(
        "--yes",
        action="store_true",
        help="prune a table pgqueue did not create (NoETL's own: NoETL reads its finished "
        "rows, so pgqueue refuses without this)",
    )

"""``pgqueue dashboard``: serve the web dashboard (`pgqueue.dashboard`) with
uvicorn, on 127.0.0.1 unless told otherwise."""

from __future__ import annotations

import argparse
import os

from rich.console import Console

from pgqueue import migrate as migrations
from pgqueue.cli.common import (
    EXIT_OK,
    EXIT_USAGE,
    CliError,
    check_reachable,
    database_dsn,
    positive_int,
    schema_of,
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--bind",
        default="127.0.0.1",
        help="address to listen on (default: 127.0.0.1, this machine only; anything else "
        "exposes the queue's data to whoever reaches it)",
    )
    p.add_argument(
        "--port", type=positive_int, default=8080, help="port to listen on (default: 8080)"
    )
    p.add_argument(
        "--read-only",
        action="store_true",
        help="refuse every action, even with a token (without PGQUEUE_DASHBOARD_TOKEN "
        "it is read-only anyway)",
    )
    p.add_argument(
        "--refresh",
        type=float,
        default=2.0,
        help="seconds between the live figures' reads, one read for every open page (default: 2)",
    )


async def run_dashboard(args: argparse.Namespace, console: Console) -> int:
    try:
        import uvicorn

        from pgqueue.dashboard import TOKEN_VARIABLE, app
    except ImportError as exc:
        raise CliError(
            f"the dashboard needs its extra ({exc.name} is missing): "
            "pip install 'pgqueue[dashboard]'",
            EXIT_USAGE,
        ) from None
    if args.refresh <= 0:
        raise CliError("--refresh: must be a positive number of seconds", EXIT_USAGE)
    dsn = database_dsn(args)
    await check_reachable(dsn)
    # a schema never migrated, or behind this pgqueue: said now, in one line,
    # rather than on every page
    await migrations.wait_for_revision(dsn, schema_of(args), 0)
    token = os.environ.get(TOKEN_VARIABLE) or None
    read_only = args.read_only or token is None
    dashboard = app(
        dsn, schema=schema_of(args), token=token, read_only=read_only, refresh=args.refresh
    )
    if read_only:
        why = "--read-only" if args.read_only else f"no {TOKEN_VARIABLE} is set"
        console.print(f"read-only ({why}): every action is refused")
    else:
        console.print(f"actions need the token in {TOKEN_VARIABLE}: sign in at /login")
    console.print(f"serving the dashboard on http://{args.bind}:{args.port}/ (Ctrl-C stops it)")
    config = uvicorn.Config(
        dashboard, host=args.bind, port=args.port, log_level="warning", lifespan="on"
    )
    await uvicorn.Server(config).serve()
    return EXIT_OK

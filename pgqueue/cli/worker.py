"""``pgqueue worker``: run commands from the queue until stopped."""

from __future__ import annotations

import argparse
import importlib
import os
import socket
from datetime import timedelta
from typing import Any

import psycopg_pool
from rich.console import Console

from pgqueue import retention as retentions
from pgqueue.cli.common import (
    EXIT_ABORTED,
    EXIT_OK,
    EXIT_SCHEMA,
    EXIT_USAGE,
    CliError,
    database_dsn,
    duration,
    non_negative_int,
    open_pool,
    positive_int,
    table_of,
)
from pgqueue.db.gateway import Gateway
from pgqueue.errors import SchemaNotMigrated
from pgqueue.pg_source import PgCommandSource
from pgqueue.runtime import settle_heap
from pgqueue.tools import tools_from_module
from pgqueue.tools.builtin import DEFAULT_TOOLS, postgres, python_tool
from pgqueue.worker import Worker


def build_worker(args: argparse.Namespace, pool: psycopg_pool.AsyncConnectionPool[Any]) -> Worker:
    source = PgCommandSource(
        pool,
        worker_id=args.worker_id or f"{socket.gethostname()}-{os.getpid()}",
        tool_kinds=args.tool_kinds or None,
        wait=not args.until_empty,
        lease_for=args.lease,
        poll_interval=args.poll_interval.total_seconds(),
        prefetch=args.prefetch,
        table=table_of(args),
    )
    worker = Worker(
        source,
        concurrency=args.concurrency,
        timeout=args.timeout.total_seconds() if args.timeout else None,
        grace=args.grace.total_seconds(),
        pool=pool,
    )
    for kind, function in DEFAULT_TOOLS.items():
        worker.register(kind, function)
    if args.python_module:
        worker.register("python", python_tool(args.python_module))
    if args.enable_postgres_tool:
        worker.register("postgres", postgres)
    for module_name in args.tools:
        try:
            module = importlib.import_module(module_name)
            for kind, function in tools_from_module(module).items():
                worker.register(kind, function)
        except (ImportError, TypeError) as exc:
            raise CliError(f"--tools {module_name}: {exc}", EXIT_USAGE) from None
    return worker


async def worker(args: argparse.Namespace, console: Console) -> int:
    dsn = database_dsn(args)
    async with open_pool(dsn, max_size=args.concurrency + 3) as pool:
        worker = build_worker(args, pool)
        gateway = Gateway(pool, table_of(args))
        try:
            policy = args.retention
            if policy == "auto":
                retention = await retentions.default_for(gateway)
            elif policy == "off":
                retention = None
            else:
                retention = retentions.Retention(duration(policy))
        except SchemaNotMigrated as exc:
            raise CliError(str(exc), EXIT_SCHEMA) from None
        worker.install_signal_handlers()
        settle_heap()  # start-up is done: this process now only runs the worker
        pruner = retentions.Pruner(gateway, retention) if retention else None
        if pruner is not None:
            pruner.start()
        try:
            stats = await worker.run()
        finally:
            if pruner is not None:
                await pruner.stop()
        summary = ", ".join(f"{k} {v}" for k, v in sorted(stats.counts.items())) or "nothing to do"
        console.print(f"worker {worker.worker_id} stopped: {summary}", highlight=False)
        return EXIT_ABORTED if worker.signals > 1 else EXIT_OK


def add_worker(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-c", "--concurrency", type=positive_int, default=10, help="commands at once (default: 10)"
    )
    p.add_argument(
        "--prefetch",
        type=non_negative_int,
        default=0,
        metavar="N",
        help="while the queue is busy, claim up to N commands ahead so short tools never wait "
        "for a claim (their leases run meanwhile; default: 0)",
    )
    p.add_argument(
        "--tools",
        action="append",
        default=[],
        metavar="MODULE",
        help="import MODULE and register its TOOLS mapping; repeatable",
    )
    p.add_argument("--tool-kinds", nargs="+", metavar="KIND", help="claim only these kinds")
    p.add_argument(
        "--python-module",
        action="append",
        default=[],
        metavar="PREFIX",
        help="enable the python tool for modules under PREFIX; repeatable",
    )
    p.add_argument(
        "--enable-postgres-tool",
        action="store_true",
        help="enable the postgres tool (runs statements with the worker's role)",
    )
    p.add_argument(
        "--lease", type=duration, default=timedelta(seconds=30), help="lease length (default: 30s)"
    )
    p.add_argument(
        "--poll-interval",
        type=duration,
        default=timedelta(seconds=1),
        help="idle poll when no notification comes (default: 1s)",
    )
    p.add_argument(
        "--timeout",
        type=duration,
        default=timedelta(minutes=10),
        help="per-command timeout (default: 10m)",
    )
    p.add_argument(
        "--grace",
        type=duration,
        default=timedelta(seconds=30),
        help="on SIGTERM, how long running commands may finish (default: 30s)",
    )
    p.add_argument("--until-empty", action="store_true", help="exit when nothing is claimable")
    p.add_argument("--worker-id", help="recorded on claimed rows (default: host-pid)")
    p.add_argument(
        "--retention",
        default="auto",
        help="prune finished rows older than this, 'off', or 'auto' "
        "(7d on a pgqueue-created table, off on NoETL's)",
    )

"""``pgqueue worker``: run commands from the queue until stopped."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import importlib
import logging
import os
import socket
import sys
import time
from typing import Any

import psycopg_pool
from rich.console import Console

from pgqueue import migrate as migrations
from pgqueue import retention as retentions
from pgqueue.cli.common import (
    EXIT_ABORTED,
    EXIT_OK,
    EXIT_SCHEMA,
    EXIT_USAGE,
    CliError,
    database_dsn,
    duration,
    open_pool,
    schema_of,
    table_of,
)
from pgqueue.db.deadlines import DEFAULT_DEADLINES, Deadline, Deadlines
from pgqueue.db.gateway import Gateway
from pgqueue.db.noetl import noetl_tables
from pgqueue.db.outbox import Outbox
from pgqueue.errors import SchemaNotMigrated
from pgqueue.noetl import NoetlReporter, RuntimeHeartbeat
from pgqueue.observability import Metrics, Probe, lifecycle
from pgqueue.pg_source import PgCommandSource
from pgqueue.registry import STALE, Registry, WorkerIdInUse
from pgqueue.relay import Relay
from pgqueue.runtime import settle_heap
from pgqueue.tools import tools_from_module
from pgqueue.tools.builtin import (
    DEFAULT_TOOLS,
    http_tool,
    postgres_tool,
    postgres_tool_pool,
    python_tool,
)
from pgqueue.worker import Worker

logger = logging.getLogger(__name__)


def deadlines_of(args: argparse.Namespace) -> Deadlines:
    """The deadlines the flags set: claims and completions share theirs."""
    limit = Deadline(args.statement_timeout, args.lock_timeout)
    return dataclasses.replace(DEFAULT_DEADLINES, claim=limit, completion=limit)


def build_worker(
    args: argparse.Namespace,
    pool: psycopg_pool.AsyncConnectionPool[Any],
    postgres_pool: psycopg_pool.AsyncConnectionPool[Any] | None = None,
    tool_pool: psycopg_pool.AsyncConnectionPool[Any] | None = None,
    relay: Relay | None = None,
) -> Worker:
    """The worker the arguments describe: ``pool`` carries its claims and
    completions, ``tool_pool`` (default: the same) is what tools get as
    ``ctx.pool``, ``postgres_pool`` is the ``postgres`` tool's own pool, when it
    is enabled, and ``relay`` delivers its reports, when it makes any."""
    source = PgCommandSource(
        pool,
        worker_id=worker_id_of(args),
        tool_kinds=args.tool_kinds or None,
        wait=not args.until_empty,
        lease_for=args.lease,
        poll_interval=args.poll_interval.total_seconds(),
        prefetch=args.prefetch,
        table=table_of(args),
        deadlines=deadlines_of(args),
        listen=not args.transaction_pooler,
        listen_conninfo=args.listen_dsn,
        reporter=relay.reporter if relay is not None else None,
        paused=relay.paused if relay is not None else None,
    )
    if relay is not None:
        source.completer.on_reports = relay.poke
    worker = Worker(
        source,
        concurrency=args.concurrency,
        timeout=args.timeout.total_seconds() if args.timeout else None,
        grace=args.grace.total_seconds(),
        pool=tool_pool or pool,
        services=[relay] if relay is not None else [],
    )
    for kind, function in DEFAULT_TOOLS.items():
        worker.register(kind, function)
    if args.http_allow_host:
        worker.register("http", http_tool(args.http_allow_host, max_bytes=args.http_max_bytes))
    if args.python_module or args.python_callable:
        worker.register("python", python_tool(args.python_module, callables=args.python_callable))
    if postgres_pool is not None:
        worker.register("postgres", postgres_tool(postgres_pool))
    if args.tools and os.getcwd() not in sys.path and "" not in sys.path:
        # as uvicorn and celery do: a tools module of the directory the worker
        # was started in imports (the console script's path holds only its own)
        sys.path.insert(0, os.getcwd())
    for module_name in args.tools:
        try:
            module = importlib.import_module(module_name)
            for kind, function in tools_from_module(module).items():
                worker.register(kind, function)
        except ImportError as exc:
            raise CliError(f"--tools {module_name}: {exc}", EXIT_USAGE) from None
        except (TypeError, ValueError) as exc:
            raise CliError(f"--tools {module_name}: {exc}", EXIT_USAGE) from None
        except Exception as exc:  # the module itself raised on import
            raise CliError(
                f"--tools {module_name}: {type(exc).__name__}: {exc}", EXIT_USAGE
            ) from None
    missing = sorted(set(args.tool_kinds or ()) - set(worker.tools.kinds))
    if missing:
        raise CliError(
            f"--tool-kinds {' '.join(missing)}: no tool for {'it' if len(missing) == 1 else 'them'}"
            f" (tools here: {', '.join(worker.tools.kinds)}; add one with --tools MODULE)",
            EXIT_USAGE,
        )
    return worker


async def check_schema(dsn: str, schema: str, wait: float) -> None:
    """Exit 4 on a schema pgqueue never migrated; on one behind this pgqueue's
    revision (a migration in progress, a rolling upgrade), wait up to ``wait``
    seconds for it, saying so once, then exit 4: a worker on an old schema would
    fail its statements one by one, retrying forever."""
    head = migrations.head()
    deadline = time.monotonic() + wait
    said = False
    while True:
        current = await asyncio.to_thread(migrations.current, dsn, schema=schema)
        if current == head:
            return
        if current is None:
            raise CliError(
                f"schema {schema} is not migrated for pgqueue: run pgqueue migrate", EXIT_SCHEMA
            )
        if time.monotonic() > deadline:
            raise CliError(
                f"schema {schema} is at {current}; this pgqueue needs {head}: run pgqueue migrate",
                EXIT_SCHEMA,
            )
        if not said:
            logger.warning(
                "schema %s is at %s; waiting up to %.0fs for it to reach %s (pgqueue migrate)",
                schema,
                current,
                wait,
                head,
                extra={"action": "schema_wait"},
            )
            said = True
        await asyncio.sleep(1.0)


def worker_id_of(args: argparse.Namespace) -> str:
    return str(args.worker_id or f"{socket.gethostname()}-{os.getpid()}")


def noetl_reporter(args: argparse.Namespace) -> NoetlReporter | None:
    """The reporter ``--noetl-api`` (or ``PGQUEUE_NOETL_API``) asks for; the token
    comes from ``PGQUEUE_NOETL_TOKEN`` only, never a flag (``ps`` shows flags)."""
    api = args.noetl_api  # PGQUEUE_NOETL_API too, as every flag's variable
    if not api:
        return None
    try:
        return NoetlReporter(api, token=os.environ.get("PGQUEUE_NOETL_TOKEN") or None)
    except ValueError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None


async def worker(args: argparse.Namespace, console: Console) -> int:
    dsn = database_dsn(args)
    reporter = noetl_reporter(args)
    args.worker_id = worker_id_of(args)
    async with contextlib.AsyncExitStack() as stack:
        # The queue's own statements are batched (one claim for all slots, one
        # statement per flush of completions): a few connections carry them.
        # Tools get a pool of their own, so a tool can never starve them.
        # Behind a transaction pooler a statement may run on any server
        # connection: nothing may be prepared on them.
        prepare = {"prepare_threshold": None} if args.transaction_pooler else {}
        pool = await stack.enter_async_context(open_pool(dsn, max_size=4, kwargs=prepare))
        tool_pool = await stack.enter_async_context(
            open_pool(dsn, max_size=args.concurrency, kwargs=prepare)
        )
        postgres_pool = None
        if args.enable_postgres_tool:
            postgres_pool = postgres_tool_pool(
                args.postgres_tool_dsn or dsn, role=args.postgres_tool_role
            )
            await stack.enter_async_context(postgres_pool)
        gateway = Gateway(pool, table_of(args))
        await check_schema(dsn, schema_of(args), args.schema_wait.total_seconds())
        relay = None
        if reporter is not None:
            # deliveries hold their reports locked: a connection of their own
            relay_pool = await stack.enter_async_context(open_pool(dsn, max_size=1))
            relay = Relay(
                Outbox(relay_pool, table_of(args)),
                reporter,
                backlog=args.noetl_backlog,
                worker_id=args.worker_id,
            )
        worker = build_worker(args, pool, postgres_pool, tool_pool, relay)
        served = sorted(args.tool_kinds or worker.tools.kinds)
        registry = Registry(
            gateway, worker_id=worker.worker_id, tool_kinds=served, concurrency=args.concurrency
        )
        try:
            await registry.join()
        except WorkerIdInUse as exc:
            raise CliError(str(exc), EXIT_USAGE) from None
        worker.services.append(registry)
        if reporter is not None and (await noetl_tables(gateway)).runtime:
            worker.services.append(
                RuntimeHeartbeat(
                    gateway,
                    worker_id=worker.worker_id,
                    capacity=args.concurrency,
                    tool_kinds=served,
                )
            )
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
        if logging.getLogger("pgqueue.commands").isEnabledFor(logging.INFO):
            worker.stats.listeners.append(lifecycle)  # -v: a line per command
        probe = await observe(args, worker, gateway, relay)
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
            if probe is not None:
                await probe.stop()
        summary = ", ".join(f"{k} {v}" for k, v in sorted(stats.counts.items())) or "nothing to do"
        console.print(f"worker {worker.worker_id} stopped: {summary}", highlight=False)
        if args.until_empty:
            await warn_unserved(gateway, args.command)
        return EXIT_ABORTED if worker.signals > 1 else EXIT_OK


async def observe(
    args: argparse.Namespace, worker: Worker, gateway: Gateway, relay: Relay | None
) -> Probe | None:
    """With ``--metrics-port``: metrics on the worker's counts and statements, the
    queue's gauges, and the probes, served on that port."""
    if args.metrics_port is None:
        return None
    metrics = Metrics()
    worker.stats.listeners.append(metrics.count)
    source = worker.leased
    if isinstance(source, PgCommandSource):
        source.gateway.observe = metrics.statement
        metrics.read_ahead.set_function(lambda: len(source.prefetched()))
    metrics.slots_busy.set_function(lambda: worker.in_flight)

    def claim_error() -> str | None:
        # the source knows whether its last claim ran: an idle worker gets no
        # outcome that would tell it the database is back
        return source.claim_error if isinstance(source, PgCommandSource) else None

    metrics.outage.set_function(lambda: claim_error() is not None)

    def not_ready() -> str | None:
        if worker.stopping:
            return "stopping"
        error = claim_error()
        if error is not None:
            return f"cannot claim: {error}"
        return relay.paused() if relay is not None else None

    probe = Probe(metrics, not_ready, port=args.metrics_port, gateway=gateway)
    try:
        await probe.open()
    except OSError as exc:
        raise CliError(f"--metrics-port {args.metrics_port}: {exc.strerror}", EXIT_USAGE) from None
    logger.info(
        "metrics on port %d: /metrics, /healthz, /readyz",
        probe.port,
        extra={"worker_id": worker.worker_id, "action": "metrics", "port": probe.port},
    )
    return probe


async def warn_unserved(gateway: Gateway, verb: str) -> None:
    """After ``--until-empty``: say what is left that nobody serves (it waits forever)."""
    left = await gateway.read("status_unserved", {"stale": STALE})
    if left:
        kinds = ", ".join(f"{r['pending']} of kind {r['tool_kind']!r}" for r in left)
        print(
            f"pgqueue {verb}: warning: left PENDING, served by no live worker: {kinds}",
            file=sys.stderr,
        )

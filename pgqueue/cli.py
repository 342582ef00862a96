"""The ``pgqueue`` command line."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import logging
import os
import re
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import psycopg_pool
from pydantic import ValidationError
from rich.console import Console

from pgqueue import dsn as dsns
from pgqueue import migrate as migrations
from pgqueue import retention as retentions
from pgqueue import status as statuses
from pgqueue.enqueue import NewCommand, enqueue_many
from pgqueue.errors import (
    ConfigurationError,
    DatabaseError,
    DatabaseUnavailable,
    PgQueueError,
    SchemaNotMigrated,
)
from pgqueue.gateway import Gateway, QueueTable, describe
from pgqueue.pg_source import PgCommandSource
from pgqueue.runtime import settle_heap
from pgqueue.tools import tools_from_module
from pgqueue.tools.builtin import DEFAULT_TOOLS, postgres, python_tool
from pgqueue.worker import Worker

logger = logging.getLogger("pgqueue.cli")

#: Exit codes: 0 done; 1 failed (or nothing matched); 2 bad usage or input;
#: 3 database unreachable or not configured; 4 schema not migrated;
#: 130 stopped by a second signal.
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_DATABASE, EXIT_SCHEMA, EXIT_ABORTED = 0, 1, 2, 3, 4, 130

EPILOG = """\
The database comes from --dsn, else PGQUEUE_DSN, else DATABASE_URL, else
libpq's PG* variables. Exit codes: 0 done, 1 failed or nothing matched,
2 bad usage or input, 3 database unreachable, 4 schema not migrated.

examples:
  pgqueue demo                                  # no database needed
  pgqueue migrate
  pgqueue enqueue --step fetch --tool-kind http --input '{"url": "https://example.com"}'
  pgqueue worker --concurrency 20 --tools myapp.tools
  pgqueue status
  pgqueue requeue --tool-kind http
"""


class CliError(Exception):
    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code


# -- argument types -------------------------------------------------------------------

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


def duration(text: str) -> timedelta:
    """``250ms``, ``30s``, ``5m``, ``2h``, ``7d`` or plain seconds."""
    match = _DURATION.match(text)
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration (try 30s, 5m, 2h, 7d)")
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])


def _whole_number(text: str, what: str = "a whole number") -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None


def positive_int(text: str) -> int:
    value = _whole_number(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def non_negative_int(text: str) -> int:
    value = _whole_number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must not be negative")
    return value


def command_id(text: str) -> int:
    return _whole_number(text, "a command id (an integer)")


def json_object(text: str) -> Any:
    """JSON from the argument, ``@file``, or ``-`` for standard input."""
    if text == "-":
        text = sys.stdin.read()
    elif text.startswith("@"):
        try:
            text = Path(text[1:]).read_text("utf-8")
        except OSError as exc:
            raise argparse.ArgumentTypeError(f"cannot read {text[1:]}: {exc.strerror}") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON: {exc}") from None


# -- plumbing ---------------------------------------------------------------------------


class KeyValueFormatter(logging.Formatter):
    """``time level logger: message key=value …`` with the ``extra=`` fields."""

    FIELDS = ("worker_id", "command_id", "execution_id", "tool_kind", "action", "status")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        pairs = [
            f"{k}={getattr(record, k)}" for k in self.FIELDS if getattr(record, k, None) is not None
        ]
        return f"{line} {' '.join(pairs)}" if pairs else line


def setup_logging(verbosity: int) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(KeyValueFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(
        logging.WARNING if verbosity == 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    )
    logging.getLogger("pgqueue").setLevel(logging.INFO if verbosity == 0 else root.level)
    logging.getLogger("alembic").setLevel(logging.WARNING if verbosity == 0 else logging.INFO)


def database_dsn(args: argparse.Namespace) -> str:
    found = dsns.resolve(args.dsn)
    if found is None:
        raise CliError(
            "no database configured: pass --dsn, or set PGQUEUE_DSN or DATABASE_URL "
            "(or libpq's PGHOST and friends)",
            EXIT_DATABASE,
        )
    return dsns.validate(found[0])


async def check_reachable(dsn: str) -> None:
    """Fail with one clear line (password masked) when the database is not there."""
    try:
        conn = await psycopg.AsyncConnection.connect(dsn, connect_timeout=10)
    except psycopg.Error as exc:
        where = dsns.mask(dsn) or "the PG* default"
        raise CliError(
            f"cannot reach the database at {where}: {_reason(exc)}", EXIT_DATABASE
        ) from None
    await conn.close()


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    text = re.sub(r"^connection failed: ", "", text)
    return text[:300]


@asynccontextmanager
async def open_pool(
    dsn: str, *, max_size: int = 4
) -> AsyncIterator[psycopg_pool.AsyncConnectionPool[Any]]:
    await check_reachable(dsn)
    pool = psycopg_pool.AsyncConnectionPool(
        dsn, min_size=1, max_size=max_size, open=False, name="pgqueue", timeout=30
    )
    try:
        await pool.open(wait=True, timeout=30)
    except psycopg_pool.PoolTimeout:
        raise CliError(f"cannot open connections to {dsns.mask(dsn)}", EXIT_DATABASE) from None
    try:
        yield pool
    finally:
        await pool.close()


def schema_of(args: argparse.Namespace) -> str:
    return str(args.schema or ("pgqueue_demo" if args.command == "demo" else "noetl"))


def table_of(args: argparse.Namespace) -> QueueTable:
    return QueueTable(schema=schema_of(args))


# -- commands -----------------------------------------------------------------------------


async def cmd_migrate(args: argparse.Namespace, console: Console) -> int:
    dsn = database_dsn(args)
    await check_reachable(dsn)
    before = await asyncio.to_thread(migrations.current, dsn, schema=schema_of(args))
    if args.downgrade:
        await asyncio.to_thread(migrations.downgrade, dsn, args.downgrade, schema=schema_of(args))
    else:
        await asyncio.to_thread(migrations.upgrade, dsn, args.revision, schema=schema_of(args))
    after = await asyncio.to_thread(migrations.current, dsn, schema=schema_of(args))
    if before == after:
        console.print(f"schema {schema_of(args)}: already at {after or 'base'}")
    else:
        console.print(f"schema {schema_of(args)}: {before or 'base'} → {after or 'base'}")
    return EXIT_OK


def _commands_from(args: argparse.Namespace) -> list[dict[str, Any]]:
    if args.jsonl:
        stream = sys.stdin if args.jsonl == "-" else open(args.jsonl, encoding="utf-8")  # noqa: SIM115
        items = []
        with stream:
            for number, line in enumerate(stream, 1):
                if line.strip():
                    try:
                        items.append(json.loads(line))
                    except ValueError as exc:
                        raise CliError(
                            f"line {number}: not valid JSON: {exc}", EXIT_USAGE
                        ) from None
        return items
    if args.step is None or args.tool_kind is None:
        raise CliError("enqueue needs --step and --tool-kind (or --jsonl FILE)", EXIT_USAGE)
    item: dict[str, Any] = {
        "step": args.step,
        "tool_kind": args.tool_kind,
        "input": args.input if args.input is not None else {},
        "priority": args.priority,
    }
    for key in ("execution_id", "command_id", "render_context", "max_attempts"):
        if getattr(args, key) is not None:
            item[key] = getattr(args, key)
    if args.delay is not None:
        item["delay"] = args.delay
    return [item]


def _validation_message(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"])
        lines.append(f"  {where}: {error['msg']}")
    return "invalid command:\n" + "\n".join(lines)


async def cmd_enqueue(args: argparse.Namespace, console: Console) -> int:
    items = _commands_from(args)
    try:
        commands = [NewCommand.model_validate(i) for i in items]
    except ValidationError as exc:
        raise CliError(_validation_message(exc), EXIT_USAGE) from None
    dsn = database_dsn(args)
    await check_reachable(dsn)
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        ids = await enqueue_many(conn, commands, table=table_of(args))
        await conn.commit()
    for enqueued in ids:
        console.print(enqueued, highlight=False)
    return EXIT_OK


def build_worker(args: argparse.Namespace, pool: psycopg_pool.AsyncConnectionPool[Any]) -> Worker:
    source = PgCommandSource(
        pool,
        worker_id=args.worker_id or f"{socket.gethostname()}-{os.getpid()}",
        tool_kinds=args.tool_kinds or None,
        wait=not args.until_empty,
        lease=args.lease,
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


async def cmd_worker(args: argparse.Namespace, console: Console) -> int:
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
        pruning = asyncio.create_task(retentions.run(gateway, retention)) if retention else None
        try:
            stats = await worker.run()
        finally:
            if pruning is not None:
                pruning.cancel()
        summary = ", ".join(f"{k} {v}" for k, v in sorted(stats.counts.items())) or "nothing to do"
        console.print(f"worker {worker.worker_id} stopped: {summary}", highlight=False)
        return EXIT_ABORTED if worker._signals > 1 else EXIT_OK


async def cmd_status(args: argparse.Namespace, console: Console) -> int:
    dsn = database_dsn(args)
    async with open_pool(dsn, max_size=2) as pool:
        report = await statuses.report(Gateway(pool, table_of(args)), failures=args.failures)
    if args.json:
        print(json.dumps(report.as_json(), indent=2, default=str))
    else:
        statuses.print_report(report, console, title=f"{schema_of(args)}.command")
    return EXIT_OK


async def cmd_requeue(args: argparse.Namespace, console: Console) -> int:
    if not (args.ids or args.execution_id or args.tool_kind or args.step or args.all):
        raise CliError(
            "say which FAILED commands: ids, --execution-id, --tool-kind, --step, or --all",
            EXIT_USAGE,
        )
    dsn = database_dsn(args)
    async with open_pool(dsn, max_size=2) as pool:
        count = await Gateway(pool, table_of(args)).requeue(
            command_ids=args.ids or None,
            execution_id=args.execution_id,
            tool_kind=args.tool_kind,
            step=args.step,
        )
    console.print(f"requeued {count} command(s)")
    return EXIT_OK if count else EXIT_FAILED


async def cmd_cancel(args: argparse.Namespace, console: Console) -> int:
    dsn = database_dsn(args)
    async with open_pool(dsn, max_size=2) as pool:
        cancelled = await Gateway(pool, table_of(args)).cancel(
            args.ids, execution_id=args.execution_id, reason=args.reason
        )
    done = {c for _, c in cancelled}
    console.print(f"cancelled {len(done)} command(s)")
    missed = [i for i in args.ids if i not in done]
    if missed:
        console.print(
            "not cancelled (already finished, or no such command): " + ", ".join(map(str, missed)),
            highlight=False,
        )
    return EXIT_OK if done and not missed else EXIT_FAILED


async def cmd_prune(args: argparse.Namespace, console: Console) -> int:
    dsn = database_dsn(args)
    async with open_pool(dsn, max_size=2) as pool:
        gateway = Gateway(pool, table_of(args))
        if not args.yes and not await gateway.created_by_pgqueue():
            raise CliError(
                "this table was not created by pgqueue (NoETL reads its finished rows); "
                "pass --yes to prune it anyway",
                EXIT_USAGE,
            )
        policy = retentions.Retention(args.older_than, include_failed=args.include_failed)
        deleted = await gateway.prune(older_than=policy.older_than, statuses=policy.statuses)
    console.print(f"pruned {deleted} command(s) finished more than {args.older_than} ago")
    return EXIT_OK


async def cmd_bench(args: argparse.Namespace, console: Console) -> int:
    from pgqueue.bench import run_bench

    return await run_bench(args, console)


async def cmd_chaos(args: argparse.Namespace, console: Console) -> int:
    from pgqueue.chaos import run_chaos

    return await run_chaos(args, console)


async def cmd_demo(args: argparse.Namespace, console: Console) -> int:
    from pgqueue.demo import run_demo

    return await run_demo(args, console)


# -- the parser ---------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--dsn", help="PostgreSQL connection string (default: PGQUEUE_DSN, DATABASE_URL, PG*)"
    )
    common.add_argument(
        "--schema", help="schema of the command table (default: noetl; demo: pgqueue_demo)"
    )
    common.add_argument(
        "-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)"
    )

    top = argparse.ArgumentParser(
        prog="pgqueue",
        description="A PostgreSQL-native command queue: workers claim rows of noetl.command "
        "with FOR UPDATE SKIP LOCKED, run their tools and record the results.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    top.add_argument("--version", action="version", version=f"pgqueue {_version()}")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(
        name: str, help_text: str, handler: Callable[..., Awaitable[int]]
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, parents=[common], help=help_text, description=help_text)
        p.set_defaults(handler=handler)
        return p

    p = add("migrate", "create or upgrade the queue schema (alembic, idempotent)", cmd_migrate)
    p.add_argument("--revision", default="head", help="upgrade to this revision (default: head)")
    p.add_argument("--downgrade", metavar="REVISION", help="downgrade instead, e.g. to 'base'")

    p = add("enqueue", "add commands (in one transaction)", cmd_enqueue)
    p.add_argument("--step", help="step name")
    p.add_argument("--tool-kind", help="tool kind that runs it, e.g. http")
    p.add_argument("--input", type=json_object, help="input JSON object; @file or - for stdin")
    p.add_argument("--render-context", type=json_object, help="render context JSON object")
    p.add_argument("--execution-id", type=command_id, help="execution id (default: a new one)")
    p.add_argument("--command-id", type=command_id, help="command id (default: a new one)")
    p.add_argument("--delay", type=duration, help="not before this long from now, e.g. 30s")
    p.add_argument("--priority", type=int, default=0, help="higher runs first (default: 0)")
    p.add_argument("--max-attempts", type=positive_int, help="attempts before FAILED (default: 5)")
    p.add_argument(
        "--jsonl", metavar="FILE", help="many commands, one JSON object per line ('-': stdin)"
    )

    p = add(
        "worker",
        "run commands until stopped (SIGTERM drains, a second signal stops now)",
        cmd_worker,
    )
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

    p = add("status", "counts by state and tool kind, backlog, leases, recent failures", cmd_status)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--failures", type=int, default=5, help="recent failures to show (default: 5)")

    p = add("requeue", "send FAILED commands back to PENDING with fresh attempts", cmd_requeue)
    p.add_argument("ids", nargs="*", type=command_id, metavar="COMMAND_ID")
    p.add_argument("--execution-id", type=command_id)
    p.add_argument("--tool-kind")
    p.add_argument("--step")
    p.add_argument("--all", action="store_true", help="every FAILED command")

    p = add(
        "cancel",
        "cancel PENDING or running commands (a running tool stops at its next heartbeat)",
        cmd_cancel,
    )
    p.add_argument("ids", nargs="+", type=command_id, metavar="COMMAND_ID")
    p.add_argument("--execution-id", type=command_id)
    p.add_argument("--reason", help="recorded in the error column")

    p = add("prune", "delete finished commands older than a window", cmd_prune)
    p.add_argument("--older-than", type=duration, required=True, help="e.g. 7d")
    p.add_argument("--include-failed", action="store_true", help="also delete FAILED rows")
    p.add_argument("--yes", action="store_true", help="prune a table NoETL created")

    p = add(
        "demo",
        "run a realistic batch end to end (an embedded PostgreSQL if none is configured)",
        cmd_demo,
    )
    p.add_argument("--workers", type=positive_int, default=2, help="worker count (default: 2)")
    p.add_argument("--commands", type=positive_int, default=60, help="batch size (default: 60)")
    p = add("bench", "measure pgqueue against the raw SQL ceiling on this machine", cmd_bench)
    from pgqueue.bench import add_arguments

    add_arguments(p)
    p = add(
        "chaos",
        "prove nothing is lost under SIGKILL, cut connections and a server restart "
        "(on an embedded PostgreSQL of its own)",
        cmd_chaos,
    )
    from pgqueue.chaos import add_arguments as chaos_arguments

    chaos_arguments(p)
    return top


def _version() -> str:
    from pgqueue import __version__

    return __version__


def run(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    setup_logging(args.verbose)
    console = Console(highlight=False, soft_wrap=True)

    def fail(message: str) -> None:
        # plain print: one line, never wrapped or styled
        print(f"pgqueue {args.command}: {message}", file=sys.stderr)

    try:
        code: int = asyncio.run(args.handler(args, console))
        return code
    except CliError as exc:
        fail(f"{exc}")
        return exc.code
    except SchemaNotMigrated as exc:
        fail(f"{exc}")
        return EXIT_SCHEMA
    except DatabaseUnavailable as exc:
        fail(f"database unavailable: {exc}")
        return EXIT_DATABASE
    except ConfigurationError as exc:
        fail(f"{exc}")
        return EXIT_DATABASE
    except (DatabaseError, PgQueueError) as exc:
        fail(f"{exc}")
        return EXIT_FAILED
    except psycopg.Error as exc:
        fail(f"{describe(exc)}")
        return EXIT_FAILED
    except KeyboardInterrupt:
        return EXIT_ABORTED


def main() -> None:
    sys.exit(run())

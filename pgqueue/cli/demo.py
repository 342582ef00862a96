"""`pgqueue demo`: a realistic batch, end to end, on any machine.

With no database configured it starts the embedded PostgreSQL. It works in a
schema of its own (``pgqueue_demo``), which it drops and recreates; it marks
the schemas it makes and refuses to drop any other (`migrate.replace_scratch_schema`),
so it never touches a real ``noetl.command`` nor a schema of the user's.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import time
from datetime import timedelta
from functools import partial
from typing import Any

import psycopg
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from pgqueue import dsn as dsns
from pgqueue import migrate as migrations
from pgqueue.backoff import RetryPolicy
from pgqueue.cli import status as statuses
from pgqueue.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    CliError,
    check_reachable,
    open_pool,
    positive_int,
    schema_of,
)
from pgqueue.cli.embedded import EmbeddedServer, start_embedded
from pgqueue.db.gateway import Gateway
from pgqueue.db.table import QueueTable
from pgqueue.enqueue import enqueue_many
from pgqueue.errors import SchemaNotOurs
from pgqueue.models import Command
from pgqueue.pg_source import PgCommandSource
from pgqueue.states import FINISHED, Status
from pgqueue.tools import ToolContext
from pgqueue.tools.builtin import noop, python_tool, sleep
from pgqueue.worker import Worker

#: the package whose ``sql`` folder holds the operator programs' statements
PROGRAMS = "pgqueue.cli"


WORDS = ["the", "queue", "is", "the", "table", "and", "the", "table", "is", "the", "queue"]


def word_count(text: str) -> dict[str, int]:
    """A small pure function for the demo's ``python`` commands."""
    counts: dict[str, int] = {}
    for word in text.split():
        counts[word] = counts.get(word, 0) + 1
    return counts


async def flaky(command: Command, ctx: ToolContext) -> dict[str, Any]:
    """Fails its first ``fail_times`` attempts, then succeeds."""
    fail_times = int(command.input.get("fail_times", 1))  # type: ignore[arg-type]
    if command.attempts < fail_times:
        raise RuntimeError(f"upstream hiccup on attempt {command.attempts + 1}")
    return {"succeeded_on_attempt": command.attempts + 1}


async def poison(command: Command, ctx: ToolContext) -> dict[str, Any]:
    """Always fails: it ends in the dead letter."""
    raise ValueError("malformed upstream payload (this command always fails)")


def batch(size: int, rng: random.Random) -> list[dict[str, Any]]:
    """Most succeed, some fail then succeed on retry, one poison, one delayed."""
    commands: list[dict[str, Any]] = [
        {"step": "parse_feed", "tool_kind": "demo.poison", "input": {}, "max_attempts": 3},
        {"step": "send_digest", "tool_kind": "noop", "input": {}, "delay": timedelta(seconds=2)},
    ]
    for i in range(size - len(commands)):
        roll = rng.random()
        if roll < 0.12:
            commands.append(
                {
                    "step": f"fetch_page_{i}",
                    "tool_kind": "demo.flaky",
                    "input": {"fail_times": rng.choice([1, 2])},
                }
            )
        elif roll < 0.3:
            text = " ".join(rng.choices(WORDS, k=8))
            commands.append(
                {
                    "step": f"count_words_{i}",
                    "tool_kind": "python",
                    "input": {"callable": "pgqueue.cli.demo:word_count", "kwargs": {"text": text}},
                }
            )
        elif roll < 0.8:
            commands.append(
                {
                    "step": f"transform_{i}",
                    "tool_kind": "sleep",
                    "input": {"seconds": round(rng.uniform(0.05, 0.4), 2)},
                    "priority": rng.choice([0, 0, 1]),
                }
            )
        else:
            commands.append({"step": f"audit_{i}", "tool_kind": "noop", "input": {}})
    return commands


async def run_demo(args: argparse.Namespace, console: Console) -> int:
    schema = schema_of(args)
    if not args.verbose:
        # The progress bar tells the story; per-command log lines would bury it.
        logging.getLogger("pgqueue").setLevel(logging.WARNING)
    embedded: EmbeddedServer | None = None
    found = dsns.resolve(args.dsn)
    dsn = ""
    if found is not None:
        dsn = dsns.validate(found[0])
        try:
            await check_reachable(dsn)
        except CliError as exc:
            if found[1] == "--dsn":
                raise  # asked for explicitly: say so, don't work around it
            console.print(f"{found[1]} is set, but {exc}.")
            found = None
    if found is None:
        console.print(
            "No database reachable (--dsn, PGQUEUE_DSN, DATABASE_URL): "
            "starting an embedded PostgreSQL…"
        )
        embedded = await asyncio.to_thread(start_embedded, "demo")
        dsn = embedded.dsn
        console.print(f"  data directory {embedded.datadir} (private to its owner)")
    else:
        console.print(
            f"Using {dsns.mask(dsn) or 'the PG* defaults'} (from {found[1]}), schema {schema}"
        )
    try:
        return await _demo(dsn, schema, args, console, embedded=embedded is not None)
    finally:
        if embedded is not None:
            await asyncio.to_thread(embedded.stop)


async def _demo(
    dsn: str,
    schema: str,
    args: argparse.Namespace,
    console: Console,
    *,
    embedded: bool,
) -> int:
    try:
        await asyncio.to_thread(
            partial(migrations.replace_scratch_schema, own_server=embedded),
            dsn,
            schema,
            program="demo",
        )
    except SchemaNotOurs as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    await asyncio.to_thread(migrations.upgrade, dsn, schema=schema)
    console.print(f"Migrated schema {schema} to {migrations.head()}.")
    table = QueueTable(schema=schema)
    commands = batch(args.commands, random.Random(42))  # noqa: S311
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        ids = await enqueue_many(conn, commands, table=table)
        await conn.commit()
    console.print(
        f"Enqueued {len(ids)} commands in one statement: most succeed, some fail and then succeed "
        "on retry, one poison command ends FAILED, one is delayed by 2s."
    )

    async with open_pool(dsn, max_size=args.workers * 4 + 4) as pool:
        gateway = Gateway(pool, table)
        workers = []
        for n in range(1, args.workers + 1):
            source = PgCommandSource(
                pool,
                worker_id=f"demo-worker-{n}",
                table=table,
                poll_interval=0.5,
                retry_policy=RetryPolicy(base=0.5, factor=2, cap=2, jitter=0.25),
            )
            worker = Worker(source, concurrency=4, pool=pool, timeout=30)
            worker.register("noop", noop)
            worker.register("sleep", sleep)
            worker.register("python", python_tool(["pgqueue.cli.demo"]))
            worker.register("demo.flaky", flaky)
            worker.register("demo.poison", poison)
            workers.append(worker)
        console.print(f"Running {len(workers)} workers, 4 commands at a time each.")
        runs = [asyncio.create_task(w.run()) for w in workers]
        started = time.monotonic()
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            task = progress.add_task("commands", total=len(ids), detail="")
            while True:
                counts = await gateway.counts_by_status()
                done = sum(counts.get(s, 0) for s in FINISHED)
                retrying = await _retrying(gateway)
                running = counts.get(Status.RUNNING, 0) + counts.get(Status.CLAIMED, 0)
                progress.update(
                    task,
                    completed=done,
                    detail=f"done {counts.get(Status.COMPLETED, 0)} · running {running}"
                    f" · retry {retrying} · failed {counts.get(Status.FAILED, 0)}",
                )
                if done == len(ids) or time.monotonic() - started > 120:
                    break
                await asyncio.sleep(0.2)
        for worker in workers:
            worker.stop()
        await asyncio.gather(*runs)
        report = await statuses.report(gateway)
        statuses.print_report(report, console, title=f"{schema}.command")
        summary = (await gateway.execute(table.statement("demo_summary", package=PROGRAMS)))[0]
    elapsed = time.monotonic() - started
    console.print(
        f"Done in {elapsed:.1f}s: {summary['completed']} completed "
        f"({summary['after_retry']} of them after failed attempts), {summary['failed']} parked as "
        f"FAILED with its error kept; the delayed command started "
        f"{float(summary['delayed_start'] or 0):.1f}s after it was enqueued."
    )
    if embedded:
        console.print(
            "The embedded server stops with the demo. On a database of your own: "
            "`pgqueue migrate`, then the README's quick start; `pgqueue requeue ID` sends a "
            "dead letter back."
        )
    else:
        console.print(
            f"The demo's schema stays until the next demo: `pgqueue requeue --all --schema "
            f"{schema}` sends its dead letter back; `pgqueue status --schema {schema}` shows it."
        )
    expected = summary["completed"] == len(ids) - 1 and summary["failed"] == 1
    return EXIT_OK if expected else EXIT_FAILED


async def _retrying(gateway: Gateway) -> int:
    rows = await gateway.execute(gateway.table.statement("demo_retrying", package=PROGRAMS))
    return int(rows[0]["n"])


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.description = (
        "Run a realistic batch end to end: migrate a schema of the demo's own "
        "(--schema, default pgqueue_demo), enqueue, run workers with a progress bar, "
        "print the status. The demo drops and remakes that schema each run, and only "
        "drops a schema it created (it marks its own with a comment): any other, "
        "public or noetl included, is refused untouched. With no database configured "
        "it starts an embedded PostgreSQL."
    )
    p.add_argument("--workers", type=positive_int, default=2, help="worker count (default: 2)")
    p.add_argument("--commands", type=positive_int, default=60, help="batch size (default: 60)")

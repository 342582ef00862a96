"""`pgqueue bench`: pgqueue against the raw SQL ceiling, on this machine, in one run.

Every pgqueue figure is printed beside its baseline measured in the same
rounds, as the median of the per-round ratios with their range: the raw loop
on a minimal table (the ceiling) and on an identical table (same migrations,
same indexes, same trigger). Worker processes are real OS processes that start together on a
barrier, so process start-up is not timed. The bench works in schemas of its
own (``pgqueue_bench``, ``pgqueue_bench_raw``, ``pgqueue_bench_min``) and drops
them at the end.

Modes:

- ``burn-down``: enqueue N no-op commands, drain them with K processes running
  the real `Worker`, verify that each finished exactly once; two raw loops in
  the same rounds claim 100 rows per round trip and complete them in one
  statement: on a minimal table (``min_create.sql``: the machine's ceiling for
  any queue) and on pgqueue's own.
- ``steady``: a producer at a fixed rate plus K workers woken by NOTIFY;
  enqueue-to-claim and enqueue-to-complete latency at p50/p95/p99. ``idle`` is
  the same at a low rate, where every command finds an idle worker.
- ``backlog``: the burn-down rate with 0 and with M finished rows in the table.
- ``enqueue``: bulk enqueue rate against a raw COPY.
- ``mixed``: the burn-down rate of one kind alone, and beside M pending
  commands of another kind no worker serves (``--backlog``), older than its own.
- ``limited``: the burn-down rate with a concurrency limit on every execution
  (``pgqueue limit set --every-execution``), against none.
- ``layout``: the burn-down on NoETL's layout (``pgqueue_bench_noetl``: 16
  hash partitions, its 12 indexes, its event log) against pgqueue's own table,
  in the same rounds, with N pending rows and again beside M finished ones.
- ``dashboard``: how long the dashboard's overview and its commands page take
  on a table of M commands (``--backlog``), most of them finished.
- ``fair``: the burn-down rate with fair share over executions (``pgqueue
  fair-share execution``), against claim order; each command is an execution
  of its own, the dearest case for a fair claim.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
from dataclasses import asdict

import psycopg
from psycopg import sql
from rich.console import Console
from rich.progress import Progress

from pgqueue import dsn as dsns
from pgqueue import migrate as migrations
from pgqueue.cli.bench import noetl_layout
from pgqueue.cli.bench.database import (
    MIN_SCHEMA,
    NOETL_SCHEMA,
    RAW_SCHEMA,
    SCHEMA,
    execute,
    statement,
)
from pgqueue.cli.bench.figures import render
from pgqueue.cli.bench.runs import Bench
from pgqueue.cli.common import EXIT_OK, check_reachable, duration, positive_int

MODES = (
    "burn-down",
    "steady",
    "idle",
    "backlog",
    "enqueue",
    "mixed",
    "limited",
    "fair",
    "dashboard",
    "layout",
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--mode",
        nargs="+",
        choices=(*MODES, "all"),
        default=["all"],
        help="what to measure (default: all)",
    )
    p.add_argument(
        "-n",
        "--commands",
        type=positive_int,
        default=20_000,
        help="commands per burn-down (default: 20000)",
    )
    p.add_argument(
        "-k",
        "--processes",
        type=positive_int,
        nargs="+",
        default=[1, 2],
        help="worker process counts to try (default: 1 2)",
    )
    p.add_argument(
        "--concurrency",
        type=positive_int,
        default=100,
        help="worker slots per process (default: 100)",
    )
    p.add_argument(
        "--rounds",
        "--runs",
        dest="rounds",
        type=positive_int,
        default=3,
        help="rounds: each runs every measure of a mode once, baselines included, so a "
        "slow spell of the machine weighs on a figure and its baseline alike; a figure "
        "is the median of its rounds, a ratio the median of the per-round ratios "
        "(default: 3)",
    )
    p.add_argument(
        "--rate", type=positive_int, default=1000, help="steady producer rate /s (default: 1000)"
    )
    p.add_argument(
        "--idle-rate", type=positive_int, default=20, help="idle producer rate /s (default: 20)"
    )
    p.add_argument(
        "--duration",
        type=duration,
        default=duration("10s"),
        help="steady and idle run length (default: 10s)",
    )
    p.add_argument(
        "--backlog",
        type=positive_int,
        default=1_000_000,
        help="finished rows for the backlog mode, pending rows of another kind for the "
        "mixed mode, commands for the dashboard mode (default: 1000000)",
    )
    p.add_argument(
        "--layout",
        choices=("pgqueue", "noetl"),
        default="pgqueue",
        help="the table: pgqueue's own, or NoETL's (16 hash partitions, its 12 indexes, "
        "its execution table and event log) with pgqueue's migrations on it "
        "(default: pgqueue)",
    )
    p.add_argument(
        "--noetl-events",
        type=int,
        default=1_000_000,
        metavar="N",
        help="with --layout noetl: events of past executions in NoETL's event log, which "
        "the look-up of ended executions after each claim reads; 0 for no event table "
        "at all, and so no look-up (default: 1000000)",
    )
    p.add_argument("--json", action="store_true", help="print the results as JSON")


def _steps(args: argparse.Namespace, modes: set[str]) -> int:
    steps: int = 0
    runs = int(args.rounds)
    if "burn-down" in modes:
        steps += 3 * len(args.processes) * runs
    if "backlog" in modes:
        steps += 2 * runs
    if "enqueue" in modes:
        steps += 2 * runs
    if "mixed" in modes:
        steps += 2 * runs
    if "limited" in modes:
        steps += 2 * len(args.processes) * runs
    if "fair" in modes:
        steps += 2 * len(args.processes) * runs
    if "dashboard" in modes:
        steps += runs
    if "layout" in modes:
        steps += 4 * len(args.processes) * runs
    steps += runs * (("steady" in modes) + ("idle" in modes))
    return steps


async def run_bench(args: argparse.Namespace, console: Console) -> int:

    modes = set(MODES) if "all" in args.mode else set(args.mode)
    if args.json:
        # stdout carries the JSON alone; progress and notes go to stderr
        console = Console(stderr=True)
    found = dsns.resolve(args.dsn)
    embedded = None
    if found is None:
        from pgqueue.cli.embedded import start_embedded

        console.print("No database configured: benchmarking the embedded PostgreSQL.")
        embedded = await asyncio.to_thread(start_embedded, "bench")
        dsn = embedded.dsn
    else:
        dsn = dsns.validate(found[0])
        await check_reachable(dsn)
    try:
        return await asyncio.to_thread(
            _bench, dsn, args, modes, console, EXIT_OK, embedded is not None
        )
    finally:
        if embedded is not None:
            await asyncio.to_thread(embedded.stop)


def _settings(dsn: str) -> dict[str, str]:
    rows = execute(dsn, statement(SCHEMA, "settings"))
    return {name: value for name, value in rows}


def _bench(
    dsn: str,
    args: argparse.Namespace,
    modes: set[str],
    console: Console,
    exit_ok: int,
    own_server: bool,
) -> int:
    settings = _settings(dsn)
    migrations.replace_scratch_schema(dsn, MIN_SCHEMA, program="bench", own_server=own_server)
    execute(dsn, statement(MIN_SCHEMA, "min_create"))
    # the layout mode puts NoETL's layout beside pgqueue's own, in one run
    noetl_schemas = {NOETL_SCHEMA} if "layout" in modes else set()
    if args.layout == "noetl":
        noetl_schemas |= {SCHEMA, RAW_SCHEMA}
    for schema in (SCHEMA, RAW_SCHEMA, *sorted(noetl_schemas - {SCHEMA, RAW_SCHEMA})):
        migrations.replace_scratch_schema(dsn, schema, program="bench", own_server=own_server)
        if schema in noetl_schemas:
            with psycopg.connect(dsn, autocommit=True) as conn:
                noetl_layout.create(conn, schema)
                if args.noetl_events <= 0:
                    conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(schema, "event")))
                elif schema != RAW_SCHEMA:
                    console.print(f"filling NoETL's event log with {args.noetl_events:,} events…")
                    noetl_layout.fill_events(conn, schema, args.noetl_events)
        migrations.upgrade(dsn, schema=schema)
    try:
        with Progress(console=console, transient=False) as progress:
            bench = Bench(dsn, args, progress)
            bench.task = progress.add_task("benchmarking", total=_steps(args, modes))
            if "enqueue" in modes:
                bench.run_enqueue()
            if "burn-down" in modes:
                bench.run_burn_down()
            if "backlog" in modes:
                bench.run_backlog()
            if "mixed" in modes:
                bench.run_mixed()
            if "limited" in modes:
                bench.run_limited()
            if "fair" in modes:
                bench.run_fair()
            if "dashboard" in modes:
                bench.run_dashboard()
            if "layout" in modes:
                bench.run_layout()
            if "steady" in modes:
                bench.run_latency(
                    "steady", args.rate, {("complete", "p50"): 5.0, ("complete", "p99"): 20.0}
                )
            if "idle" in modes:
                bench.run_latency(
                    "idle", args.idle_rate, {("claim", "p50"): 1.5, ("claim", "p99"): 5.0}
                )
    finally:
        for schema in (SCHEMA, RAW_SCHEMA, MIN_SCHEMA, NOETL_SCHEMA):
            migrations.drop_scratch_schema(dsn, schema, program="bench")
    machine = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "postgres": settings.get("server_version"),
        "fsync": settings.get("fsync"),
        "synchronous_commit": settings.get("synchronous_commit"),
        "commands": args.commands,
        "processes": args.processes,
        "concurrency": args.concurrency,
        "rounds": args.rounds,
        "layout": args.layout,
    }
    if args.json:
        print(
            json.dumps(
                {
                    "machine": machine,
                    "verified": bench.verified,
                    "figures": [
                        asdict(f) | {"ratio": f.ratio, "spread": f.spread, "verdict": f.verdict}
                        for f in bench.figures
                    ],
                },
                indent=2,
            )
        )
    else:
        console.print(render(bench.figures))
        console.print(", ".join(f"{k} {v}" for k, v in machine.items()))
        for line in bench.verified:
            console.print(f"verified: {line}")
    return exit_ok

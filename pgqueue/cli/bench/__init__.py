"""`pgqueue bench`: pgqueue against the raw SQL ceiling, on this machine, in one run.

Every pgqueue figure is printed beside the raw baseline measured in the same
run on an identical table (same migrations, same indexes, same trigger), as a
ratio. Worker processes are real OS processes that start together on a
barrier, so process start-up is not timed. The bench works in schemas of its
own (``pgqueue_bench`` and ``pgqueue_bench_raw``) and drops them at the end.

Modes:

- ``burn-down``: enqueue N no-op commands, drain them with K processes running
  the real `Worker`, verify that each finished exactly once; the raw baseline
  claims 100 rows per round trip and completes them in one statement (and, for
  reference, one row per transaction).
- ``steady``: a producer at a fixed rate plus K workers woken by NOTIFY;
  enqueue-to-claim and enqueue-to-complete latency at p50/p95/p99. ``idle`` is
  the same at a low rate, where every command finds an idle worker.
- ``backlog``: the burn-down rate with 0 and with M finished rows in the table.
- ``enqueue``: bulk enqueue rate against a raw COPY.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import multiprocessing
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from multiprocessing.synchronize import Event as EventType
from typing import Any

import psycopg
import psycopg_pool
from psycopg import sql
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from pgqueue import dsn as dsns
from pgqueue import migrate as migrations
from pgqueue.cli.common import EXIT_OK, check_reachable, duration, positive_int
from pgqueue.db.table import QueueTable
from pgqueue.enqueue import enqueue_many
from pgqueue.pg_source import PgCommandSource
from pgqueue.runtime import settle_heap
from pgqueue.tools.builtin import noop
from pgqueue.worker import Worker

SCHEMA = "pgqueue_bench"
RAW_SCHEMA = "pgqueue_bench_raw"
#: the package whose ``sql`` folder holds the bench's own statements
BENCH = "pgqueue.cli.bench"
MODES = ("burn-down", "steady", "idle", "backlog", "enqueue")

# -- arguments -----------------------------------------------------------------------------


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
        "--runs", type=positive_int, default=3, help="runs per figure; medians (default: 3)"
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
        help="finished rows for the backlog mode (default: 1000000)",
    )
    p.add_argument("--json", action="store_true", help="print the results as JSON")


# -- processes -----------------------------------------------------------------------------


def _worker_process(
    dsn: str,
    schema: str,
    concurrency: int,
    wait: bool,
    ready: Any,
    start: EventType,
    stop: EventType,
    results: Any,
) -> None:
    asyncio.run(_worker_main(dsn, schema, concurrency, wait, ready, start, stop, results))


async def _worker_main(
    dsn: str,
    schema: str,
    concurrency: int,
    wait: bool,
    ready: Any,
    start: EventType,
    stop: EventType,
    results: Any,
) -> None:
    async with psycopg_pool.AsyncConnectionPool(dsn, min_size=4, max_size=8, open=False) as pool:
        await pool.wait()
        source = PgCommandSource(
            pool,
            worker_id=f"bench-{multiprocessing.current_process().pid}",
            table=QueueTable(schema),
            wait=wait,
            max_batch=concurrency,
            # no-op tools are short: read the next batch ahead while this one runs
            prefetch=concurrency if not wait else 0,
        )
        worker = Worker(source, concurrency=concurrency, pool=pool)
        worker.register("noop", noop)
        settle_heap()  # as `pgqueue worker` does once started
        ready.put(True)
        await asyncio.to_thread(start.wait)
        if wait:

            async def stopper() -> None:
                await asyncio.to_thread(stop.wait)
                worker.stop()

            stopping = asyncio.create_task(stopper())
        stats = await worker.run()
        if wait:
            stopping.cancel()
        results.put((stats["completed"], stats["lost"] + stats["unrecorded"], time.time()))


def _raw_process(
    dsn: str,
    schema: str,
    batch: int,
    ready: Any,
    start: EventType,
    stop: EventType,
    results: Any,
) -> None:
    """The raw ceiling: claim ``batch`` rows per round trip, complete them in one
    statement; with ``batch == 1``, one row per transaction."""
    table = QueueTable(schema)
    done = 0
    # every statement prepared on its first run, as pgqueue's claims and completions are
    with psycopg.connect(dsn, prepare_threshold=0) as conn:
        ready.put(True)
        start.wait()
        if batch == 1:
            claim, complete = (
                table.statement("raw_claim_one", package=BENCH),
                table.statement("raw_complete_one", package=BENCH),
            )
            while True:
                with conn.transaction():
                    row = conn.execute(claim).fetchone()
                    if row is None:
                        break
                    conn.execute(complete, {"execution_id": row[0], "command_id": row[1]})
                    done += 1
        else:
            conn.autocommit = True
            claim, complete = (
                table.statement("raw_claim_batch", limit=batch, package=BENCH),
                table.statement("raw_complete", package=BENCH),
            )
            while rows := conn.execute(claim).fetchall():
                conn.execute(
                    complete,
                    {"execution_ids": [r[0] for r in rows], "command_ids": [r[1] for r in rows]},
                )
                done += len(rows)
    results.put((done, 0, time.time()))


@dataclass
class ProcessRun:
    completed: int
    lost: int
    seconds: float


def _run_processes(
    target: Callable[..., None],
    args_for: Callable[[Any, Any, Any, Any], tuple[Any, ...]],
    count: int,
    *,
    hold: Callable[[], None] | None = None,
) -> ProcessRun:
    """Start ``count`` processes, release them together, time until all are done."""
    ctx = multiprocessing.get_context("spawn")
    ready, results = ctx.Queue(), ctx.Queue()
    start, stop = ctx.Event(), ctx.Event()
    procs = [
        ctx.Process(target=target, args=args_for(ready, start, stop, results)) for _ in range(count)
    ]
    for proc in procs:
        proc.start()
    for _ in procs:
        ready.get(timeout=120)
    began = time.time()
    start.set()
    if hold is not None:
        hold()  # steady mode: produce, wait, then stop the workers
        stop.set()
    finished = [results.get(timeout=3600) for _ in procs]
    for proc in procs:
        proc.join(timeout=60)
    return ProcessRun(
        completed=sum(f[0] for f in finished),
        lost=sum(f[1] for f in finished),
        seconds=max(f[2] for f in finished) - began,
    )


# -- the database side ----------------------------------------------------------------------


def _exec(
    dsn: str, statement: sql.SQL | sql.Composed, params: dict[str, Any] | None = None
) -> list[Any]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        cur = conn.execute(statement, params)
        return cur.fetchall() if cur.description else []


def _reset(dsn: str, schema: str) -> None:
    _exec(dsn, sql.SQL("TRUNCATE {}").format(QueueTable(schema).identifier))


def _vacuum(dsn: str, schema: str) -> None:
    _exec(dsn, sql.SQL("VACUUM ANALYZE {}").format(QueueTable(schema).identifier))


def _fill(dsn: str, schema: str, count: int, *, chunk: int = 10_000) -> None:
    """``count`` no-op commands, through pgqueue's own bulk enqueue, ``chunk``
    commands a call, in one transaction."""

    command = {"step": "bench", "tool_kind": "noop", "input": {}}

    async def go() -> None:
        async with await psycopg.AsyncConnection.connect(dsn) as conn:
            for offset in range(0, count, chunk):
                commands = [command] * min(chunk, count - offset)
                await enqueue_many(conn, commands, table=QueueTable(schema))
            await conn.commit()

    asyncio.run(go())


def _counts(dsn: str, schema: str) -> dict[str, int]:
    rows = _exec(
        dsn,
        sql.SQL("SELECT status, count(*) FROM {} GROUP BY status").format(
            QueueTable(schema).identifier
        ),
    )
    return {status: int(n) for status, n in rows}


# -- measurements --------------------------------------------------------------------------


@dataclass
class Figure:
    """One line of the results table."""

    name: str
    unit: str
    value: float
    baseline: float | None = None
    baseline_name: str = ""
    target: float | None = None
    higher_is_better: bool = True
    runs: list[float] = field(default_factory=list)

    @property
    def ratio(self) -> float | None:
        if not self.baseline:
            return None
        return self.value / self.baseline

    @property
    def verdict(self) -> str:
        if self.target is None:
            return ""
        measured = self.ratio if self.baseline is not None else self.value
        if measured is None:
            return ""
        ok = measured >= self.target if self.higher_is_better else measured <= self.target
        return "met" if ok else "missed"


def _figure(
    name: str,
    unit: str,
    runs: list[float],
    *,
    baseline: float | None = None,
    baseline_name: str = "",
    target: float | None = None,
    higher_is_better: bool = True,
) -> Figure:
    """A figure from its runs: their median, beside the baseline's median."""
    return Figure(
        name,
        unit,
        statistics.median(runs),
        baseline,
        baseline_name,
        target,
        higher_is_better,
        runs=runs,
    )


class Bench:
    def __init__(self, dsn: str, args: argparse.Namespace, progress: Progress) -> None:
        self.dsn = dsn
        self.args = args
        self.progress = progress
        self.figures: list[Figure] = []
        self.verified: list[str] = []

    def step(self, text: str) -> None:
        self.progress.console.log(text)

    def burn_down(
        self,
        schema: str,
        processes: int,
        *,
        raw_batch: int | None = None,
        commands: int | None = None,
        backlog: int = 0,
    ) -> float:
        """One burn-down; returns commands per second, after verifying exactly-once."""
        n = int(commands or self.args.commands)
        _reset(self.dsn, schema)
        if backlog:
            _exec(
                self.dsn, QueueTable(schema).statement("backlog", package=BENCH), {"rows": backlog}
            )
        _fill(self.dsn, schema, n)
        _vacuum(self.dsn, schema)
        if raw_batch is None:
            run = _run_processes(
                _worker_process,
                lambda r, s, st, q: (self.dsn, schema, self.args.concurrency, False, r, s, st, q),
                processes,
            )
        else:
            run = _run_processes(
                _raw_process,
                lambda r, s, st, q: (self.dsn, schema, raw_batch, r, s, st, q),
                processes,
            )
        counts = _counts(self.dsn, schema)
        expected = {"COMPLETED": n + backlog}
        if counts != expected or run.completed != n:
            raise RuntimeError(
                f"exactly-once check failed: table {counts}, "
                f"workers completed {run.completed} of {n}"
            )
        return n / run.seconds

    def interleaved(self, measures: dict[str, Callable[[], float]]) -> dict[str, list[float]]:
        """Every measure once per round, ``--runs`` rounds: on a shared machine a slow
        spell then weighs on a figure and on its baseline alike, instead of on
        whichever happened to run during it. Each measure's runs, in order."""
        runs: dict[str, list[float]] = {label: [] for label in measures}
        for i in range(self.args.runs):
            for label, measure in measures.items():
                self.step(f"{label}: run {i + 1} of {self.args.runs}")
                runs[label].append(measure())
                self.progress.advance(self.task)
        return runs

    task: Any = None

    def run_burn_down(self) -> None:
        for k in self.args.processes:
            runs = self.interleaved(
                {
                    "raw batch-100 claim": functools.partial(
                        self.burn_down, RAW_SCHEMA, k, raw_batch=100
                    ),
                    # one row per transaction is slow: fewer commands are enough
                    "raw one-row claim": functools.partial(
                        self.burn_down,
                        RAW_SCHEMA,
                        k,
                        raw_batch=1,
                        commands=min(2000, self.args.commands),
                    ),
                    "pgqueue Worker": functools.partial(self.burn_down, SCHEMA, k),
                }
            )
            raw = statistics.median(runs["raw batch-100 claim"])
            self.verified.append(f"burn-down x{k}: every command completed exactly once")
            self.figures += [
                _figure(f"raw one-row claim, {k} proc", "cmd/s", runs["raw one-row claim"]),
                _figure(f"raw batch claim, {k} proc", "cmd/s", runs["raw batch-100 claim"]),
                _figure(
                    f"burn-down, {k} proc",
                    "cmd/s",
                    runs["pgqueue Worker"],
                    baseline=raw,
                    baseline_name="raw batch",
                    target=0.6,
                ),
            ]

    def run_backlog(self) -> None:
        n = min(self.args.commands, 10_000)
        full_label = f"claim rate, {self.args.backlog:,} finished rows"
        runs = self.interleaved(
            {
                "claim rate, empty table": lambda: self.burn_down(SCHEMA, 1, commands=n),
                full_label: lambda: self.burn_down(
                    SCHEMA, 1, commands=n, backlog=self.args.backlog
                ),
            }
        )
        empty = runs["claim rate, empty table"]
        self.figures += [
            _figure("claim rate, empty table", "cmd/s", empty),
            _figure(
                f"claim rate, {self.args.backlog:,} finished",
                "cmd/s",
                runs[full_label],
                baseline=statistics.median(empty),
                baseline_name="empty table",
                target=0.8,
            ),
        ]

    def run_enqueue(self) -> None:
        n = int(self.args.commands)

        def ours() -> float:
            # one enqueue_many of the N commands, as the raw COPY is one COPY of N rows
            _reset(self.dsn, SCHEMA)
            began = time.perf_counter()
            _fill(self.dsn, SCHEMA, n, chunk=n)
            return n / (time.perf_counter() - began)

        def raw() -> float:
            _reset(self.dsn, RAW_SCHEMA)
            table = QueueTable(RAW_SCHEMA)
            began = time.perf_counter()
            with psycopg.connect(self.dsn) as conn, conn.cursor() as cur:
                with cur.copy(
                    sql.SQL(
                        "COPY {} (execution_id, command_id, step_name, tool_kind, context)"
                        " FROM STDIN"
                    ).format(table.identifier)
                ) as copy:
                    for i in range(n):
                        copy.write_row((i, i, "bench", "noop", "{}"))
                conn.commit()
            return n / (time.perf_counter() - began)

        runs = self.interleaved({"raw COPY": raw, "pgqueue enqueue_many": ours})
        self.figures += [
            _figure("raw COPY", "rows/s", runs["raw COPY"]),
            _figure(
                "bulk enqueue",
                "rows/s",
                runs["pgqueue enqueue_many"],
                baseline=statistics.median(runs["raw COPY"]),
                baseline_name="raw COPY",
                target=0.7,
            ),
        ]

    def latency(self, rate: int) -> dict[str, list[float]]:
        _reset(self.dsn, SCHEMA)
        seconds = self.args.duration.total_seconds()
        total = int(rate * seconds)

        def produce() -> None:
            async def go() -> None:
                async with await psycopg.AsyncConnection.connect(self.dsn, autocommit=True) as conn:
                    began = time.perf_counter()
                    for i in range(total):
                        delay = began + i / rate - time.perf_counter()
                        if delay > 0:
                            await asyncio.sleep(delay)
                        await enqueue_many(
                            conn,
                            [{"step": "s", "tool_kind": "noop", "input": {}}],
                            table=QueueTable(SCHEMA),
                        )
                    deadline = time.monotonic() + 60
                    while time.monotonic() < deadline:
                        counts = _counts(self.dsn, SCHEMA)
                        if counts.get("COMPLETED", 0) == total:
                            return
                        await asyncio.sleep(0.1)

            asyncio.run(go())

        run = _run_processes(
            _worker_process,
            lambda r, s, st, q: (self.dsn, SCHEMA, self.args.concurrency, True, r, s, st, q),
            max(self.args.processes),
            hold=produce,
        )
        if run.completed != total or _counts(self.dsn, SCHEMA) != {"COMPLETED": total}:
            raise RuntimeError(f"steady run lost commands: {_counts(self.dsn, SCHEMA)}")
        (row,) = _exec(self.dsn, QueueTable(SCHEMA).statement("latency", package=BENCH))
        return {"claim": list(row[1]), "complete": list(row[2])}

    def run_latency(
        self, name: str, rate: int, claim_targets: tuple[float | None, float | None]
    ) -> None:
        results = []
        for i in range(self.args.runs):
            self.step(f"{name} at {rate}/s: run {i + 1} of {self.args.runs}")
            results.append(self.latency(rate))
            self.progress.advance(self.task)
        for kind in ("claim", "complete"):
            for index, pct in enumerate(("p50", "p95", "p99")):
                values = [r[kind][index] for r in results]
                target = None
                if kind == "claim" and pct in ("p50", "p99"):
                    target = claim_targets[0] if pct == "p50" else claim_targets[1]
                self.figures.append(
                    _figure(
                        f"{name} {rate}/s enqueue→{kind} {pct}",
                        "ms",
                        values,
                        target=target,
                        higher_is_better=False,
                    )
                )
        self.verified.append(f"{name}: every command completed exactly once")


def _steps(args: argparse.Namespace, modes: set[str]) -> int:
    steps: int = 0
    runs = int(args.runs)
    if "burn-down" in modes:
        steps += 3 * len(args.processes) * runs
    if "backlog" in modes:
        steps += 2 * runs
    if "enqueue" in modes:
        steps += 2 * runs
    steps += runs * (("steady" in modes) + ("idle" in modes))
    return steps


def render(figures: list[Figure]) -> Table:
    table = Table(title="pgqueue bench (medians)", title_justify="left")
    for column in ("measure", "pgqueue", "baseline", "ratio", "target", ""):
        table.add_column(column, justify="left" if column in ("measure", "") else "right")
    for f in figures:
        value = f"{f.value:,.1f} {f.unit}" if f.unit == "ms" else f"{f.value:,.0f} {f.unit}"
        baseline = f"{f.baseline:,.0f} ({f.baseline_name})" if f.baseline is not None else ""
        ratio = f"{f.ratio:.2f}x" if f.ratio is not None else ""
        if f.target is None:
            target = ""
        elif f.baseline is not None:
            target = f"≥ {f.target:.1f}x"
        else:
            target = f"≤ {f.target:g} {f.unit}"
        table.add_row(f.name, value, baseline, ratio, target, f.verdict)
    return table


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
        return await asyncio.to_thread(_bench, dsn, args, modes, console, EXIT_OK)
    finally:
        if embedded is not None:
            await asyncio.to_thread(embedded.stop)


def _settings(dsn: str) -> dict[str, str]:
    rows = _exec(
        dsn,
        sql.SQL(
            "SELECT name, setting FROM pg_settings WHERE name IN "
            "('server_version', 'fsync', 'synchronous_commit', 'shared_buffers', 'max_connections')"
        ),
    )
    return {name: value for name, value in rows}


def _bench(
    dsn: str, args: argparse.Namespace, modes: set[str], console: Console, exit_ok: int
) -> int:
    import os
    import platform

    settings = _settings(dsn)
    for schema in (SCHEMA, RAW_SCHEMA):
        _exec(dsn, sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
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
            if "steady" in modes:
                bench.run_latency("steady", args.rate, (None, None))
            if "idle" in modes:
                bench.run_latency("idle", args.idle_rate, (3.0, 15.0))
    finally:
        for schema in (SCHEMA, RAW_SCHEMA):
            _exec(dsn, sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
    machine = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "postgres": settings.get("server_version"),
        "fsync": settings.get("fsync"),
        "synchronous_commit": settings.get("synchronous_commit"),
        "commands": args.commands,
        "processes": args.processes,
        "concurrency": args.concurrency,
        "runs": args.runs,
    }
    if args.json:
        print(
            json.dumps(
                {
                    "machine": machine,
                    "verified": bench.verified,
                    "figures": [
                        asdict(f) | {"ratio": f.ratio, "verdict": f.verdict} for f in bench.figures
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

"""The bench's dashboard mode: how long the dashboard's overview and its first
commands page take on a table of ``--backlog`` commands (``dashboard_rows.sql``:
most finished over two hours, some FAILED and PENDING, five kinds)."""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any, Protocol

from pgqueue.cli.bench import database
from pgqueue.cli.bench.database import SCHEMA, execute, reset, vacuum
from pgqueue.cli.bench.figures import Figure, figure
from pgqueue.dashboard.reads import DEADLINES, Filter, Reads
from pgqueue.db.connect import open_pool
from pgqueue.db.gateway import Gateway
from pgqueue.db.table import QueueTable


class Bench(Protocol):
    """What of `pgqueue.cli.bench.runs.Bench` the mode uses."""

    dsn: str
    args: argparse.Namespace
    progress: Any
    task: Any

    def step(self, text: str) -> None: ...


def timings(bench: Bench) -> list[Figure]:
    """The dashboard's figures, ``--rounds`` reads of each."""
    rows = bench.args.backlog
    reset(bench.dsn, SCHEMA)
    execute(bench.dsn, database.statement(SCHEMA, "dashboard_rows"), {"rows": rows})
    vacuum(bench.dsn, SCHEMA)

    async def timed() -> tuple[list[float], list[float], list[float]]:
        overview: list[float] = []
        page: list[float] = []
        filtered: list[float] = []
        async with open_pool(bench.dsn, max_size=2) as pool:
            reads = Reads(Gateway(pool, QueueTable(SCHEMA), DEADLINES))
            for i in range(bench.args.rounds):
                bench.step(f"dashboard on {rows:,} rows: round {i + 1} of {bench.args.rounds}")
                for into, read in (
                    (overview, reads.overview()),
                    (page, reads.commands(Filter())),
                    (filtered, reads.commands(Filter(status="FAILED", text="boom"))),
                ):
                    began = time.perf_counter()
                    await read
                    into.append((time.perf_counter() - began) * 1000)
                bench.progress.advance(bench.task)
        return overview, page, filtered

    overview, page, filtered = asyncio.run(timed())
    return [
        figure(
            f"dashboard overview, {rows:,} rows",
            "ms",
            overview,
            target=1000,
            higher_is_better=False,
        ),
        figure(f"dashboard commands page, {rows:,} rows", "ms", page, higher_is_better=False),
        figure(
            f"dashboard commands page filtered, {rows:,} rows",
            "ms",
            filtered,
            higher_is_better=False,
        ),
    ]

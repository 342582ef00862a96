"""The bench's worker processes: real OS processes, released together on a
barrier so that process start-up is not timed; pgqueue's `Worker`, or the raw
baseline's SKIP LOCKED loop."""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.synchronize import Event as EventType
from typing import Any

import psycopg
import psycopg_pool

from pgqueue.cli.bench.database import MIN_SCHEMA, statement
from pgqueue.db.table import QueueTable
from pgqueue.pg_source import PgCommandSource
from pgqueue.runtime import settle_heap
from pgqueue.tools.builtin import noop
from pgqueue.worker import Worker


def worker_process(
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
    # as `pgqueue worker`'s own pool: every statement its own transaction
    async with psycopg_pool.AsyncConnectionPool(
        dsn, min_size=4, max_size=8, open=False, kwargs={"autocommit": True}
    ) as pool:
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


def raw_process(
    dsn: str,
    schema: str,
    batch: int,
    ready: Any,
    start: EventType,
    stop: EventType,
    results: Any,
) -> None:
    """The raw loop: claim ``batch`` rows per round trip, complete them in one
    statement. On the minimal table (`MIN_SCHEMA`) it is the machine's ceiling
    for any queue."""
    done = 0
    # every statement prepared on its first run, as pgqueue's claims and completions are
    with psycopg.connect(dsn, prepare_threshold=0) as conn:
        conn.execute(statement(schema, "raw_session"))
        conn.commit()
        ready.put(True)
        start.wait()
        if schema == MIN_SCHEMA:
            conn.autocommit = True
            claim, complete = (
                statement(schema, "min_claim", limit=batch),
                statement(schema, "min_complete"),
            )
            while rows := conn.execute(claim).fetchall():
                conn.execute(complete, {"ids": [r[0] for r in rows]})
                done += len(rows)
        else:
            conn.autocommit = True
            claim, complete = (
                statement(schema, "raw_claim_batch", limit=batch),
                statement(schema, "raw_complete"),
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


def run_processes(
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

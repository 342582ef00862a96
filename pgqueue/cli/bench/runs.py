"""`Bench`: the measurements, each pgqueue figure beside its raw baseline of the
same run, round by round."""

from __future__ import annotations

import argparse
import asyncio
import functools
import time
from collections.abc import Callable
from typing import Any

import psycopg
from rich.progress import Progress

from pgqueue.cli.bench import dashboard, database
from pgqueue.cli.bench.database import (
    MIN_SCHEMA,
    NOETL_SCHEMA,
    RAW_SCHEMA,
    SCHEMA,
    counts,
    execute,
    fill,
    reset,
    vacuum,
)
from pgqueue.cli.bench.figures import Figure, figure
from pgqueue.cli.bench.processes import raw_process, run_processes, worker_process
from pgqueue.db.table import QueueTable
from pgqueue.enqueue import enqueue_many
from pgqueue.states import Status


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
        others: int = 0,
        every_execution: int = 0,
        fair: bool = False,
    ) -> float:
        """One burn-down; returns commands per second, after verifying exactly-once.
        ``others``: that many PENDING commands of a kind no worker serves, older
        than the burn-down's (mixed fleets); ``every_execution``: a concurrency
        limit of that many per execution (each bench command is an execution
        of its own: the limit is counted for every claimed row, never full);
        ``fair``: fair share over executions (each command its own execution:
        the most groups a fair claim can meet, its dearest case)."""
        n = int(commands or self.args.commands)
        reset(self.dsn, schema)
        if backlog:
            execute(self.dsn, database.statement(schema, "backlog"), {"rows": backlog})
        if others:
            execute(self.dsn, database.statement(schema, "others"), {"rows": others})
        if every_execution:
            execute(
                self.dsn,
                database.statement(schema, "limit_every_execution"),
                {"n": every_execution},
            )
        if fair:
            execute(self.dsn, database.statement(schema, "fair_share"), {})
        fill(self.dsn, schema, n)
        vacuum(self.dsn, schema)
        if raw_batch is None:
            run = run_processes(
                worker_process,
                lambda r, s, st, q: (self.dsn, schema, self.args.concurrency, False, r, s, st, q),
                processes,
            )
        else:
            run = run_processes(
                raw_process,
                lambda r, s, st, q: (self.dsn, schema, raw_batch, r, s, st, q),
                processes,
            )
        found = counts(self.dsn, schema)
        expected = {Status.COMPLETED.value: n + backlog}
        if others:
            expected[Status.PENDING.value] = others
        if found != expected or run.completed != n:
            raise RuntimeError(
                f"exactly-once check failed: table {found}, "
                f"workers completed {run.completed} of {n}"
            )
        return n / run.seconds

    def interleaved(self, measures: dict[str, Callable[[], float]]) -> dict[str, list[float]]:
        """Every measure once per round, ``--rounds`` rounds: on a shared machine a slow
        spell then weighs on a figure and on its baseline alike, instead of on
        whichever happened to run during it. Each measure's runs, in order."""
        runs: dict[str, list[float]] = {label: [] for label in measures}
        for i in range(self.args.rounds):
            for label, measure in measures.items():
                self.step(f"{label}: run {i + 1} of {self.args.rounds}")
                runs[label].append(measure())
                self.progress.advance(self.task)
        return runs

    task: Any = None

    def run_burn_down(self) -> None:
        """pgqueue's `Worker` against two raw loops in the same rounds: on the
        minimal table (the machine's ceiling for any queue) and on pgqueue's own
        table (what pgqueue's columns, indexes and trigger cost a bare loop)."""
        for k in self.args.processes:
            ceiling, own, ours = (
                f"raw loop, minimal table, {k} proc",
                f"raw loop, pgqueue table, {k} proc",
                f"burn-down, {k} proc",
            )
            runs = self.interleaved(
                {
                    ceiling: functools.partial(self.burn_down, MIN_SCHEMA, k, raw_batch=100),
                    own: functools.partial(self.burn_down, RAW_SCHEMA, k, raw_batch=100),
                    ours: functools.partial(self.burn_down, SCHEMA, k),
                }
            )
            self.verified.append(f"burn-down x{k}: every command completed exactly once")
            self.figures += [
                figure(ceiling, "cmd/s", runs[ceiling]),
                figure(own, "cmd/s", runs[own], baseline=runs[ceiling], baseline_name="minimal"),
                figure(
                    ours,
                    "cmd/s",
                    runs[ours],
                    baseline=runs[ceiling],
                    baseline_name="minimal",
                    target=0.85 if k == 1 else 0.75,
                ),
                figure(
                    f"{ours}, vs own table's raw loop",
                    "cmd/s",
                    runs[ours],
                    baseline=runs[own],
                    baseline_name="pgqueue table",
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
            figure("claim rate, empty table", "cmd/s", empty),
            figure(
                f"claim rate, {self.args.backlog:,} finished",
                "cmd/s",
                runs[full_label],
                baseline=empty,
                baseline_name="empty table",
                target=0.9,
            ),
        ]

    def run_mixed(self) -> None:
        """Burn-down of one kind beside a backlog of another no worker serves."""
        others = self.args.backlog
        label = f"burn-down beside {others:,} pending of another kind"
        runs = self.interleaved(
            {
                "burn-down, alone": lambda: self.burn_down(SCHEMA, 1),
                label: lambda: self.burn_down(SCHEMA, 1, others=others),
            }
        )
        self.verified.append("mixed: every command completed exactly once, the others untouched")
        self.figures += [
            figure("burn-down, 1 proc, alone", "cmd/s", runs["burn-down, alone"]),
            figure(
                f"beside {others:,} pending of another kind",
                "cmd/s",
                runs[label],
                baseline=runs["burn-down, alone"],
                baseline_name="alone",
                target=0.9,
            ),
        ]

    def run_limited(self) -> None:
        """Burn-down with a concurrency limit on every execution, and without."""
        self._against_plain(
            "limited", ("no limit", "a limit on every execution"), {"every_execution": 5}, 0.8
        )

    def run_fair(self) -> None:
        """Burn-down with fair share over executions, and in claim order."""
        self._against_plain("fair", ("claim order", "fair share over executions"), {"fair": True})

    def _against_plain(
        self,
        mode: str,
        names: tuple[str, str],
        setting: dict[str, Any],
        target: float | None = None,
        *,
        schema: str = SCHEMA,
        plain: dict[str, Any] | None = None,
        tag: str = "",
    ) -> None:
        """Burn-downs with each process count, alternating: on pgqueue's table
        with ``plain`` (`burn_down`'s settings), and on ``schema``'s with
        ``setting``; the second as a ratio of the first. ``tag`` ends the line
        that says each was verified."""
        plain_name, set_name = names
        for k in self.args.processes:
            first, other = f"burn-down x{k}, {plain_name}", f"burn-down x{k}, {set_name}"
            runs = self.interleaved(
                {
                    first: functools.partial(self.burn_down, SCHEMA, k, **(plain or {})),
                    other: functools.partial(self.burn_down, schema, k, **setting),
                }
            )
            self.verified.append(f"{mode} x{k}{tag}: every command completed exactly once")
            self.figures += [
                figure(f"burn-down, {k} proc, {plain_name}", "cmd/s", runs[first]),
                figure(
                    f"burn-down, {k} proc, {set_name}",
                    "cmd/s",
                    runs[other],
                    baseline=runs[first],
                    baseline_name=plain_name,
                    target=target,
                ),
            ]

    def run_layout(self) -> None:
        """pgqueue's burn-down on NoETL's layout against its own table, with each
        process count, in the same rounds: first with ``-n`` pending rows, then
        beside ``--backlog`` finished ones."""
        for backlog in (0, self.args.backlog):
            beside = f", {backlog:,} finished" if backlog else ""
            self._against_plain(
                "layout",
                (f"plain table{beside}", f"NoETL's layout{beside}"),
                {"backlog": backlog},
                0.9,
                schema=NOETL_SCHEMA,
                plain={"backlog": backlog},
                tag=beside,
            )

    def run_dashboard(self) -> None:
        """How long the dashboard's pages take on a big table (`dashboard`)."""
        self.figures += dashboard.timings(self)

    def run_enqueue(self) -> None:
        n = int(self.args.commands)

        def ours() -> float:
            # one enqueue_many of the N commands, as the raw COPY is one COPY of N rows
            reset(self.dsn, SCHEMA)
            began = time.perf_counter()
            fill(self.dsn, SCHEMA, n, chunk=n)
            return n / (time.perf_counter() - began)

        def raw() -> float:
            reset(self.dsn, RAW_SCHEMA)
            began = time.perf_counter()
            with psycopg.connect(self.dsn) as conn, conn.cursor() as cur:
                with cur.copy(database.statement(RAW_SCHEMA, "raw_copy")) as copy:
                    for i in range(n):
                        copy.write_row((i, i, "bench", "noop", "{}"))
                conn.commit()
            return n / (time.perf_counter() - began)

        runs = self.interleaved({"raw COPY": raw, "pgqueue enqueue_many": ours})
        self.figures += [
            figure("raw COPY", "rows/s", runs["raw COPY"]),
            figure(
                "bulk enqueue",
                "rows/s",
                runs["pgqueue enqueue_many"],
                baseline=runs["raw COPY"],
                baseline_name="raw COPY",
                target=0.85,
            ),
        ]

    def latency(self, rate: int) -> dict[str, list[float]]:
        reset(self.dsn, SCHEMA)
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
                        if counts(self.dsn, SCHEMA).get(Status.COMPLETED, 0) == total:
                            return
                        await asyncio.sleep(0.1)

            asyncio.run(go())

        run = run_processes(
            worker_process,
            lambda r, s, st, q: (self.dsn, SCHEMA, self.args.concurrency, True, r, s, st, q),
            max(self.args.processes),
            hold=produce,
        )
        if run.completed != total or counts(self.dsn, SCHEMA) != {Status.COMPLETED.value: total}:
            raise RuntimeError(f"steady run lost commands: {counts(self.dsn, SCHEMA)}")
        (row,) = execute(self.dsn, database.statement(SCHEMA, "latency"))
        return {"claim": list(row[1]), "complete": list(row[2])}

    def run_latency(self, name: str, rate: int, targets: dict[tuple[str, str], float]) -> None:
        """Latency percentiles at ``rate`` over the rounds; ``targets``: an upper
        bound in ms by (``claim`` or ``complete``, ``p50``/``p95``/``p99``)."""
        results = []
        for i in range(self.args.rounds):
            self.step(f"{name} at {rate}/s: run {i + 1} of {self.args.rounds}")
            results.append(self.latency(rate))
            self.progress.advance(self.task)
        for kind in ("claim", "complete"):
            for index, pct in enumerate(("p50", "p95", "p99")):
                values = [r[kind][index] for r in results]
                target = targets.get((kind, pct))
                self.figures.append(
                    figure(
                        f"{name} {rate}/s enqueue→{kind} {pct}",
                        "ms",
                        values,
                        target=target,
                        higher_is_better=False,
                    )
                )
        self.verified.append(f"{name}: every command completed exactly once")

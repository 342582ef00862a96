"""`pgqueue chaos`: prove under faults that nothing is lost and nothing completes twice.

It owns its database server (the embedded PostgreSQL, so no other work is
disturbed), enqueues N commands whose tool records every execution in a side
table, and runs worker processes while it repeatedly SIGKILLs random workers
(starting new ones), terminates random worker backends with
``pg_terminate_backend``, and restarts the server once. At the end it checks,
from the tables:

- every command is ``COMPLETED``, and completed exactly once (a trigger counts
  every transition to ``COMPLETED``);
- every command has at least one recorded execution;
- every re-execution follows a fault that hit the earlier run: its worker was
  killed, its connection was cut, or the server restarted meanwhile;
- no row is left ``CLAIMED`` or ``RUNNING``.

Bounded in time (``--max-seconds``); it stops by itself and exits 1 if any
check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import psycopg
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from pgqueue import migrate as migrations
from pgqueue.cli.chaos_report import Report, render
from pgqueue.cli.common import EXIT_FAILED, EXIT_OK, positive_int
from pgqueue.cli.embedded import start_embedded
from pgqueue.db.table import QueueTable
from pgqueue.enqueue import enqueue_many_sync
from pgqueue.models import Command
from pgqueue.tools import ToolContext

#: the chaos run's schema, made anew each run; its statements (cli/sql/chaos_*.sql)
#: name their bookkeeping tables in it
SCHEMA = "pgqueue_chaos"
TABLE = QueueTable(SCHEMA)
#: how long a SIGSTOPped backend stays stopped: longer than the workers'
#: statement deadline (2 s, and 2 s more on the client's side)
STOP_SECONDS = 6.0
#: the package whose ``sql`` folder holds the chaos run's own statements
PROGRAMS = "pgqueue.cli"


async def record(command: Command, ctx: ToolContext) -> dict[str, Any]:
    """The chaos tool: record this execution, work a few milliseconds, succeed."""
    async with ctx.pool.connection() as conn:
        await conn.execute(
            TABLE.statement("chaos_record", package=PROGRAMS),
            {"command_id": int(command.command_id), "worker_id": ctx.worker_id},
        )
    await asyncio.sleep(float(command.input.get("ms", 10)) / 1000)  # type: ignore[arg-type]
    return {"by": ctx.worker_id}


TOOLS = {"chaos.record": record}


@dataclass
class Faults:
    kills: list[tuple[str, float]] = field(default_factory=list)
    terminations: list[tuple[str, float]] = field(default_factory=list)
    restarts: list[float] = field(default_factory=list)
    #: a worker backend SIGSTOPped: (worker, from, to)
    stops: list[tuple[str, float, float]] = field(default_factory=list)


class Chaos:
    def __init__(self, dsn: str, server: Any, args: argparse.Namespace, console: Console) -> None:
        self.dsn = dsn
        self.server = server
        self.args = args
        self.console = console
        self.rng = random.Random(args.seed)  # noqa: S311 - fault choice, not security
        self.workers: dict[str, subprocess.Popen[bytes]] = {}
        self.started = 0
        self.faults = Faults()
        #: backends SIGSTOPped now: (pid, worker, since, until)
        self.stopped: list[tuple[int, str, float, float]] = []

    def sql(self, name: str, params: dict[str, Any] | None = None) -> list[Any]:
        """Run the chaos run's statement ``name`` on a connection of its own (the
        server may be restarting: a fresh one each time)."""
        with psycopg.connect(self.dsn, autocommit=True, connect_timeout=5) as conn:
            cur = conn.execute(TABLE.statement(name, package=PROGRAMS), params)
            return cur.fetchall() if cur.description else []

    def setup(self) -> None:
        migrations.replace_scratch_schema(self.dsn, SCHEMA, program="chaos", own_server=True)
        migrations.upgrade(self.dsn, schema=SCHEMA)
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute(TABLE.statement("chaos_setup", package=PROGRAMS))
        with psycopg.connect(self.dsn) as conn:
            for offset in range(0, self.args.commands, 5000):
                count = min(5000, self.args.commands - offset)
                enqueue_many_sync(
                    conn,
                    [
                        {
                            "step": "chaos",
                            "tool_kind": "chaos.record",
                            "input": {"ms": self.rng.randint(1, 20)},
                            "max_attempts": 1000,
                        }
                        for _ in range(count)
                    ],
                    table=TABLE,
                )
            conn.commit()

    def start_worker(self) -> None:
        self.started += 1
        name = f"chaos-{self.started}"
        self.workers[name] = subprocess.Popen(  # noqa: S603 - our own CLI
            [
                sys.executable,
                "-m",
                "pgqueue",
                "worker",
                "--dsn",
                f"{self.dsn} application_name={name}",
                "--schema",
                SCHEMA,
                "--tools",
                "pgqueue.cli.chaos",
                "--worker-id",
                name,
                "--concurrency",
                "8",
                # rows claimed ahead are in memory when a kill lands: the
                # batched path must lose none of them either
                "--prefetch",
                "8",
                "--lease",
                "5s",
                "--poll-interval",
                "0.5s",
                "--retention",
                "off",
                # short deadlines, so a SIGSTOPped backend costs a few seconds
                "--statement-timeout",
                "2s",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def kill_one(self) -> None:
        name = self.rng.choice(sorted(self.workers))
        proc = self.workers.pop(name)
        proc.send_signal(signal.SIGKILL)
        self.faults.kills.append((name, time.time()))
        proc.wait(timeout=30)
        self.start_worker()

    def terminate_backends(self) -> None:
        try:
            rows = self.sql("chaos_backends")
        except psycopg.Error:
            return  # the server may be restarting
        for pid, name in self.rng.sample(rows, k=min(len(rows), self.rng.randint(1, 3))):
            stamp = time.time()
            try:
                self.sql("chaos_terminate", {"pid": pid})
            except psycopg.Error:
                continue
            self.faults.terminations.append((name, stamp))

    def stop_backend(self) -> None:
        """SIGSTOP one worker backend for longer than the statement deadline: it
        takes the statement and never answers, as a half-open connection does."""
        try:
            rows = self.sql("chaos_backends")
        except psycopg.Error:
            return
        if not rows:
            return
        pid, name = self.rng.choice(rows)
        try:
            os.kill(pid, signal.SIGSTOP)
        except (ProcessLookupError, PermissionError):
            return
        began = time.time()
        self.stopped.append((pid, name, began, began + STOP_SECONDS))

    def resume_backends(self, *, all_of_them: bool = False) -> None:
        now = time.time()
        for entry in list(self.stopped):
            pid, name, began, until = entry
            if all_of_them or now >= until:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGCONT)
                self.stopped.remove(entry)
                self.faults.stops.append((name, began, now))

    def restart_server(self) -> None:
        self.faults.restarts.append(time.time())
        self.server.restart()

    def completed(self) -> int:
        try:
            return int(self.sql("chaos_completed")[0][0])
        except psycopg.Error:
            return -1

    def run(self) -> Report:
        began = time.monotonic()
        for _ in range(self.args.workers):
            self.start_worker()
        deadline = began + self.args.max_seconds
        done = 0
        with Progress(
            TextColumn("[bold]chaos"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            console=self.console,
        ) as progress:
            task = progress.add_task("chaos", total=self.args.commands, detail="")
            while time.monotonic() < deadline:
                # Pacing between faults, not synchronisation: progress is read
                # from the table each round.
                time.sleep(self.rng.uniform(0.3, 1.2))
                now_done = self.completed()
                done = now_done if now_done >= 0 else done
                progress.update(
                    task,
                    completed=done,
                    detail=(
                        f"kills {len(self.faults.kills)} · cut connections "
                        f"{len(self.faults.terminations)} · stopped backends "
                        f"{len(self.faults.stops) + len(self.stopped)} · restarts "
                        f"{len(self.faults.restarts)}"
                    ),
                )
                if done >= self.args.commands:
                    break
                for name, proc in list(self.workers.items()):
                    if proc.poll() is not None:  # a worker that exited on its own
                        del self.workers[name]
                        self.start_worker()
                self.resume_backends()
                fault = self.rng.random()
                if not self.faults.restarts and done >= self.args.commands * 0.4:
                    self.resume_backends(all_of_them=True)
                    self.restart_server()
                elif fault < 0.4:
                    self.kill_one()
                elif fault < 0.55 and not self.stopped:
                    self.stop_backend()
                else:
                    self.terminate_backends()
        self.resume_backends(all_of_them=True)
        for proc in self.workers.values():
            proc.send_signal(signal.SIGTERM)
        for proc in self.workers.values():
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        return self.verify(time.monotonic() - began)

    def verify(self, seconds: float) -> Report:
        completed, twice, never, leased = map(int, self.sql("chaos_verify")[0])
        runs = self.sql("chaos_reexecutions")
        by_command: dict[int, list[tuple[str, float]]] = {}
        for command_id, worker, at in runs:
            by_command.setdefault(command_id, []).append((worker, float(at)))
        kill_times: dict[str, list[float]] = {}
        for name, at in self.faults.kills:
            kill_times.setdefault(name, []).append(at)
        cut_times: dict[str, list[float]] = {}
        for name, at in self.faults.terminations:
            cut_times.setdefault(name, []).append(at)
        stop_spans: dict[str, list[tuple[float, float]]] = {}
        for name, began, ended in self.faults.stops:
            stop_spans.setdefault(name, []).append((began, ended))
        by_kill = by_cut = unexplained = re_executions = 0
        for executions in by_command.values():
            for (worker, start), (_, next_start) in itertools.pairwise(executions):
                re_executions += 1
                if any(start <= k <= next_start for k in kill_times.get(worker, [])):
                    by_kill += 1
                elif (
                    any(start <= c <= next_start for c in cut_times.get(worker, []))
                    or any(start <= r <= next_start for r in self.faults.restarts)
                    or any(b <= next_start and start <= e for b, e in stop_spans.get(worker, []))
                ):
                    by_cut += 1
                else:
                    unexplained += 1
        return Report(
            commands=self.args.commands,
            seconds=round(seconds, 1),
            workers_started=self.started,
            kills=len(self.faults.kills),
            terminations=len(self.faults.terminations),
            stops=len(self.faults.stops),
            restarts=len(self.faults.restarts),
            completed=completed,
            lost=self.args.commands - completed,
            completed_twice=twice,
            never_executed=never,
            left_leased=leased,
            re_executed_commands=len(by_command),
            re_executions=re_executions,
            explained_by_kill=by_kill,
            explained_by_connection=by_cut,
            unexplained=unexplained,
        )


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-n",
        "--commands",
        type=positive_int,
        default=20_000,
        help="commands to run (default: 20000)",
    )
    p.add_argument(
        "-w",
        "--workers",
        type=positive_int,
        default=4,
        help="worker processes alive at once (default: 4)",
    )
    p.add_argument(
        "--max-seconds",
        type=positive_int,
        default=900,
        help="give up (and fail) after this long (default: 900)",
    )
    p.add_argument("--seed", type=int, default=None, help="random seed for the fault schedule")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument(
        "--instance", default="chaos", help="name of the embedded server it owns (default: chaos)"
    )


async def run_chaos(args: argparse.Namespace, console: Console) -> int:

    if args.json:
        # stdout carries the JSON alone; progress and notes go to stderr
        console = Console(stderr=True)
    console.print("Starting an embedded PostgreSQL of the chaos run's own (it will be restarted).")
    server = await asyncio.to_thread(start_embedded, args.instance)
    try:
        chaos = Chaos(server.dsn, server, args, console)
        await asyncio.to_thread(chaos.setup)
        report = await asyncio.to_thread(chaos.run)
    finally:
        await asyncio.to_thread(server.stop)
    if args.json:
        print(json.dumps(asdict(report) | {"ok": report.ok}, indent=2))
    else:
        console.print(render(report))
        console.print(
            "all guarantees held" if report.ok else "GUARANTEES VIOLATED", highlight=False
        )
    return EXIT_OK if report.ok else EXIT_FAILED

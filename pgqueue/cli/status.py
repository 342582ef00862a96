"""`pgqueue status`: what is in the queue, as tables a person can read."""

from __future__ import annotations

import argparse
import json
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from rich.console import Console, Group
from rich.table import Table

import pgqueue
from pgqueue import flow
from pgqueue.cli.common import (
    EXIT_OK,
    database_dsn,
    non_negative_int,
    open_pool,
    schema_of,
    table_of,
)
from pgqueue.cli.flow import limit_row, limits_table
from pgqueue.cli.schedule import schedule_row, schedules_table
from pgqueue.db.gateway import Gateway
from pgqueue.db.outbox import Outbox
from pgqueue.durations import age
from pgqueue.registry import STALE
from pgqueue.states import Status

T = TypeVar("T")

#: the states in the order of the state machine, for the table's columns
STATES = tuple(Status)


@dataclass(frozen=True)
class StatusReport:
    counts: list[dict[str, Any]]
    due: int
    scheduled: int
    oldest_due_seconds: float | None
    leases: list[dict[str, Any]]
    failures: list[dict[str, Any]]
    #: the report outbox: waiting, parked, oldest_waiting_seconds
    reports: dict[str, Any]
    #: the reports a control plane refused for good, with its answer
    parked: list[dict[str, Any]]
    #: the live workers, from the registry
    workers: list[dict[str, Any]]
    #: tool kinds with PENDING work that no live worker serves
    unserved: list[dict[str, Any]]
    #: limits with what runs under each, what started in a rate's window, what waits
    limits: list[dict[str, Any]]
    #: paused tool kinds, their reason and what waits
    paused: list[dict[str, Any]]
    #: what claims spread over (``execution``, ``key``), or ``None``: off
    fair_share: str | None = None
    #: the schedules, with their last and next tick
    schedules: list[dict[str, Any]] = field(default_factory=list)

    def total(self, status: str | None = None) -> int:
        return sum(r["commands"] for r in self.counts if status is None or r["status"] == status)

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        for failure in data["failures"]:
            failure["command_id"] = str(failure["command_id"])
            if isinstance(failure["completed_at"], datetime):
                failure["completed_at"] = failure["completed_at"].isoformat()
        for parked in data["parked"]:
            parked["command_id"] = str(parked["command_id"])
            parked["parked_at"] = parked["parked_at"].isoformat()
        for pause in data["paused"]:
            pause["paused_at"] = pause["paused_at"].isoformat()
        for limit in data["limits"]:
            if isinstance(limit.get("next_start"), datetime):
                limit["next_start"] = limit["next_start"].isoformat()
        return data


async def report(gateway: Gateway, *, failures: int = 5) -> StatusReport:
    counts = await gateway.read("status_counts")
    due = (await gateway.read("status_due"))[0]
    leases = await gateway.read("status_leases")
    failed = await gateway.read("status_failures", {"limit": failures})
    outbox = Outbox(gateway.pool, gateway.table)
    counts_of_reports = await outbox.counts()
    oldest = counts_of_reports.pop("oldest_waiting")
    now = datetime.now(oldest.tzinfo) if oldest is not None else None
    reports = {
        "waiting": int(counts_of_reports["waiting"]),
        "parked": int(counts_of_reports["parked"]),
        "oldest_waiting_seconds": (now - oldest).total_seconds() if now and oldest else None,
    }
    parked = await outbox.parked(failures) if reports["parked"] else []
    workers = await gateway.read("status_workers", {"stale": STALE})
    for row in workers:
        row["up_seconds"] = _float(row["up_seconds"])
        row["beat_seconds"] = _float(row["beat_seconds"])
    unserved = await gateway.read("status_unserved", {"stale": STALE})
    for row in unserved:
        row["pending"] = int(row["pending"])
    for row in counts:
        row["commands"] = int(row["commands"])
    for row in leases:
        row["next_expiry_seconds"] = _float(row["next_expiry_seconds"])
    limits = [limit_row(each) for each in await _flow(gateway, flow.limits)]
    paused = [
        {
            "tool_kind": p.tool_kind,
            "reason": p.reason,
            "paused_at": p.paused_at,
            "waiting": p.waiting,
        }
        for p in await _flow(gateway, flow.paused)
    ]
    return StatusReport(
        counts=counts,
        due=int(due["due"]),
        scheduled=int(due["scheduled"]),
        oldest_due_seconds=_float(due["oldest_due_seconds"]),
        leases=leases,
        failures=failed,
        reports=reports,
        parked=parked,
        workers=workers,
        unserved=unserved,
        limits=limits,
        paused=paused,
        fair_share=await _fair_share(gateway),
        schedules=[schedule_row(each) for each in await _flow(gateway, pgqueue.schedules)],
    )


async def _fair_share(gateway: Gateway) -> str | None:
    async with gateway.pool.connection() as conn:
        return await flow.fair_share(conn, table=gateway.table)


async def _flow(gateway: Gateway, read: Callable[..., Awaitable[list[T]]]) -> list[T]:
    async with gateway.pool.connection() as conn:
        return await read(conn, table=gateway.table)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def render(status: StatusReport, *, title: str = "noetl.command") -> Group:
    """The report as rich tables: states by tool kind, backlog, leases, failures."""
    kinds = sorted({r["tool_kind"] for r in status.counts})
    states = [s for s in STATES if status.total(s)] + sorted(
        {r["status"] for r in status.counts} - set(STATES)
    )
    by_state = Table(title=f"{title}: {status.total()} command(s)", title_justify="left")
    by_state.add_column("tool kind")
    for state in states:
        by_state.add_column(state.lower(), justify="right")
    by_state.add_column("total", justify="right", style="bold")
    cell = {(r["tool_kind"], r["status"]): r["commands"] for r in status.counts}
    for kind in kinds:
        row = [cell.get((kind, s), 0) for s in states]
        by_state.add_row(kind, *(str(v) if v else "·" for v in row), str(sum(row)))
    if len(kinds) > 1:
        totals = [status.total(s) for s in states]
        by_state.add_row("all", *(str(v) for v in totals), str(status.total()), style="bold")

    backlog = Table(show_header=False, box=None, padding=(0, 2))
    backlog.add_row("due now", str(status.due))
    backlog.add_row("oldest due", age(status.oldest_due_seconds))
    backlog.add_row("scheduled later", str(status.scheduled))
    if status.fair_share is not None:
        backlog.add_row("fair share", f"over {status.fair_share}s")

    parts: list[Any] = [by_state, backlog]
    if status.paused:
        paused = Table(title="paused tool kinds (pgqueue resume KIND)", title_justify="left")
        for column in ("tool kind", "since", "due, waiting"):
            paused.add_column(column, justify="right" if column == "due, waiting" else "left")
        paused.add_column("reason", overflow="fold", ratio=1)
        for p in status.paused:
            paused.add_row(
                p["tool_kind"],
                f"{p['paused_at']:%Y-%m-%d %H:%M:%S}",
                str(p["waiting"]),
                p["reason"] or "",
            )
        parts.append(paused)
    if status.limits:
        parts.append(limits_table(status.limits))
    if status.schedules:
        parts.append(schedules_table(status.schedules))
    if status.leases:
        leases = Table(title="leases by worker", title_justify="left")
        for column in ("worker", "claimed", "running", "expired", "next expiry"):
            leases.add_column(column, justify="left" if column == "worker" else "right")
        for r in status.leases:
            leases.add_row(
                r["worker_id"],
                str(r["claimed"]),
                str(r["running"]),
                str(r["expired"]) if r["expired"] else "·",
                age(r["next_expiry_seconds"]),
            )
        parts.append(leases)
    if status.failures:
        failures = Table(title="recent failures", title_justify="left")
        for column in ("command", "tool kind", "step", "attempts"):
            failures.add_column(
                column, no_wrap=True, justify="right" if column == "attempts" else "left"
            )
        failures.add_column("error", overflow="fold", ratio=1)
        for r in status.failures:
            failures.add_row(
                str(r["command_id"]),
                r["tool_kind"] or "",
                r["step_name"] or "",
                str(r["attempts"]),
                (r["error"] or "")[:160],
            )
        parts.append(failures)
    live = Table(title=f"live workers: {len(status.workers)}", title_justify="left")
    for column in ("worker", "host", "pid", "tool kinds", "slots", "up", "last beat"):
        live.add_column(column, justify="right" if column in ("pid", "slots") else "left")
    for w in status.workers:
        live.add_row(
            w["worker_id"],
            w["host"],
            str(w["pid"]),
            ", ".join(w["tool_kinds"]) or "(all)",
            str(w["concurrency"]),
            age(w["up_seconds"]),
            f"{age(w['beat_seconds'])} ago",
        )
    if status.workers:
        parts.append(live)
    if status.unserved:
        unserved = Table(
            title="pending work no live worker serves (it waits until one does)",
            title_justify="left",
            style="red",
        )
        unserved.add_column("tool kind")
        unserved.add_column("pending", justify="right")
        for u in status.unserved:
            unserved.add_row(u["tool_kind"] or "(none)", str(u["pending"]))
        parts.append(unserved)
    reports = status.reports
    if reports["waiting"] or reports["parked"]:
        outbox = Table(
            show_header=False,
            box=None,
            padding=(0, 2),
            title="reports to the control plane",
            title_justify="left",
        )
        outbox.add_row("waiting", str(reports["waiting"]))
        outbox.add_row("oldest waiting", age(reports["oldest_waiting_seconds"]))
        outbox.add_row("parked (refused)", str(reports["parked"]))
        parts.append(outbox)
    if status.parked:
        parked = Table(
            title="parked reports (pgqueue requeue --reports sends them again)",
            title_justify="left",
        )
        for column in ("report", "command", "kind", "status"):
            parked.add_column(column, no_wrap=True)
        parked.add_column("response", overflow="fold", ratio=1)
        for r in status.parked:
            parked.add_row(
                str(r["report_id"]),
                str(r["command_id"]),
                r["kind"],
                str(r["response_status"]),
                (r["response"] or "")[:160],
            )
        parts.append(parked)
    return Group(*parts)


def print_report(status: StatusReport, console: Console | None = None, *, title: str = "") -> None:
    (console or Console()).print(render(status, title=title or "noetl.command"))


async def status(args: argparse.Namespace, console: Console) -> int:
    dsn = database_dsn(args)
    async with open_pool(dsn, max_size=2) as pool:
        found = await report(Gateway(pool, table_of(args)), failures=args.failures)
    if args.json:
        print(json.dumps(found.as_json(), indent=2, default=str))
    else:
        print_report(found, console, title=f"{schema_of(args)}.command")
    return EXIT_OK


def add_status(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument(
        "--failures",
        type=non_negative_int,
        default=5,
        metavar="N",
        help="recent failures to show (default: 5; 0 for none)",
    )

"""What the dashboard reads, each through the gateway under a short deadline and
with a LIMIT. Every statement is a SELECT: the dashboard works under a
read-only role (its actions then fail with the database's own refusal)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from pgqueue.db.deadlines import Deadline, Deadlines
from pgqueue.db.gateway import Gateway
from pgqueue.db.outbox import Outbox
from pgqueue.registry import STALE
from pgqueue.states import Status

#: the package that holds the dashboard's statements
PACKAGE = "pgqueue.dashboard"

#: a dashboard statement gets this long, then the page says it timed out: a
#: browser must never hold a backend for minutes
DEADLINES = Deadlines(operator=Deadline(timedelta(seconds=5), timedelta(seconds=1)))

#: above this many rows (the catalog's estimate) the overview's counts by state
#: and by kind are estimated from statistics, and marked as estimates
EXACT_UP_TO = 200_000

#: rows per page of the commands page, and the most an action on "every command
#: that matches" takes at once
PAGE = 50
MOST_AT_ONCE = 10_000

#: the states in the order a person reads them
STATES = tuple(s.value for s in Status)


@dataclass
class Overview:
    """What the overview page shows, read at ``read_at`` (``time.time()``)."""

    by_state: dict[str, int]
    by_kind: dict[str, int]
    estimated: bool
    running: int
    live_slots: int
    live_workers: int
    oldest_due_seconds: float | None
    failed_last_hour: int
    #: per minute of the last hour (epoch seconds), commands finished by outcome
    throughput: list[tuple[int, dict[str, int]]]
    read_at: float = field(default_factory=time.time)

    def as_json(self) -> dict[str, Any]:
        return {
            "by_state": self.by_state,
            "by_kind": self.by_kind,
            "estimated": self.estimated,
            "running": self.running,
            "live_slots": self.live_slots,
            "live_workers": self.live_workers,
            "oldest_due_seconds": self.oldest_due_seconds,
            "failed_last_hour": self.failed_last_hour,
            "throughput": [[minute, counts] for minute, counts in self.throughput],
            "read_at": self.read_at,
        }


@dataclass(frozen=True)
class Filter:
    """The commands page's filter; ``None`` where not given."""

    status: str | None = None
    tool_kind: str | None = None
    execution_id: int | None = None
    concurrency_key: str | None = None
    text: str | None = None

    def params(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "tool_kind": self.tool_kind,
            "execution_id": self.execution_id,
            "concurrency_key": self.concurrency_key,
            "text": None if self.text is None else f"%{_escaped(self.text)}%",
        }

    def query(self) -> dict[str, str]:
        """The filter as the page's query string carries it."""
        given = {
            "status": self.status,
            "tool_kind": self.tool_kind,
            "execution_id": None if self.execution_id is None else str(self.execution_id),
            "concurrency_key": self.concurrency_key,
            "text": self.text,
        }
        return {k: v for k, v in given.items() if v is not None}

    @property
    def empty(self) -> bool:
        return not self.query()


def _escaped(text: str) -> str:
    """``text`` matched as itself by ILIKE: its wildcards and escape escaped."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class Reads:
    """The dashboard's reads of one queue."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.table = gateway.table
        self.outbox = Outbox(gateway.pool, gateway.table, DEADLINES)

    async def _read(self, name: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        return await self.gateway.execute(self.table.statement(name, package=PACKAGE), params)

    async def overview(self) -> Overview:
        (size,) = await self._read("dash_size", {"relation": self.table.identifier.as_string(None)})
        estimated = int(size["estimated_rows"]) > EXACT_UP_TO
        by_state: dict[str, int] = {}
        by_kind: dict[str, int] = {}
        if estimated:
            for row in await self._read(
                "dash_estimates",
                {
                    "estimated_rows": int(size["estimated_rows"]),
                    "schema": self.table.schema,
                    "table": self.table.table,
                },
            ):
                into = by_state if row["column_name"] == "status" else by_kind
                into[row["value"]] = int(row["commands"])
        else:
            for row in await self.gateway.read("status_counts"):
                n = int(row["commands"])
                by_state[row["status"]] = by_state.get(row["status"], 0) + n
                by_kind[row["tool_kind"]] = by_kind.get(row["tool_kind"], 0) + n
        (figures,) = await self._read("dash_overview", {"stale": STALE})
        per_minute: dict[int, dict[str, int]] = {}
        for row in await self._read("dash_throughput"):
            per_minute.setdefault(int(row["minute"]), {})[row["status"]] = int(row["commands"])
        now_minute = int(time.time()) // 60 * 60
        throughput = [
            (minute, per_minute.get(minute, {}))
            for minute in range(now_minute - 59 * 60, now_minute + 60, 60)
        ]
        oldest = figures["oldest_due_seconds"]
        return Overview(
            by_state=by_state,
            by_kind=by_kind,
            estimated=estimated,
            running=int(figures["running"]),
            live_slots=int(figures["live_slots"]),
            live_workers=int(figures["live_workers"]),
            oldest_due_seconds=None if oldest is None else float(oldest),
            failed_last_hour=int(figures["failed_last_hour"]),
            throughput=throughput,
        )

    async def commands(
        self, where: Filter, before: int | None = None, limit: int = PAGE
    ) -> list[dict[str, Any]]:
        """A page of commands under ``where``, newest first, after id ``before``."""
        return await self._read(
            "dash_commands", where.params() | {"before": before, "limit": limit}
        )

    async def matching(self, where: Filter) -> list[int]:
        """The ids of the commands under ``where``, at most `MOST_AT_ONCE` + 1 (one
        more says there are too many): the commands page's statement, unpaged."""
        rows = await self.commands(where, limit=MOST_AT_ONCE + 1)
        return [int(r["command_id"]) for r in rows]

    async def execution(self, execution_id: int) -> tuple[list[dict[str, Any]], list[Any]]:
        """An execution's commands, and its reports still in the outbox."""
        params = {"execution_id": execution_id, "limit": 1000}
        commands = await self._read("dash_execution", params)
        reports = await self._read("dash_execution_reports", params)
        return commands, reports

    async def workers(self) -> list[dict[str, Any]]:
        return await self._read("dash_workers", {"stale": STALE, "limit": 500})

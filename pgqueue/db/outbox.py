"""`Outbox`: the report outbox's statements (``pgqueue_outbox``, migration 0008).

Reports get into the outbox with the row's own write (``part_outbox_insert.sql``,
through the `Gateway`); this is the other side, the relay's and the operator's.
A relay takes reports in a transaction that holds their rows locked while it
delivers them, and settles each in the same transaction: a relay that dies
mid-delivery lets them go with its connection, at once, to another relay.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Literal

import psycopg
import psycopg_pool
from psycopg import sql

from pgqueue.db import statements
from pgqueue.db.deadlines import (
    DEFAULT_DEADLINES,
    Deadline,
    Deadlines,
    deadline,
    settings_statement,
)
from pgqueue.db.gateway import Gateway
from pgqueue.db.table import QueueTable
from pgqueue.db.translate import DRIVER_ERRORS, translate
from pgqueue.reporting import OutboxEntry

#: how a taken report was settled
Outcome = Literal["delivered", "retry", "parked"]


@dataclass(frozen=True, slots=True)
class Taken:
    """A report taken for delivery, with its command's status now (``None``: the
    row is gone, pruned)."""

    entry: OutboxEntry
    command_status: str | None


@dataclass(frozen=True, slots=True)
class Settled:
    report_id: int
    outcome: Outcome
    #: seconds until due again (``retry``)
    delay: float = 0.0
    #: the HTTP status, when there was an answer
    status: int | None = None
    #: the error, or the refusing response (``parked``)
    text: str | None = None


class Batch:
    """Reports taken in one transaction, settled before it commits."""

    def __init__(self, taken: list[Taken]) -> None:
        self.taken = taken
        self.settled: list[Settled] = []


class Outbox:
    """The outbox of the queue ``table``'s schema, on ``pool``."""

    def __init__(
        self,
        pool: psycopg_pool.AsyncConnectionPool[Any],
        table: QueueTable | None = None,
        deadlines: Deadlines = DEFAULT_DEADLINES,
    ) -> None:
        self.pool = pool
        self.table = table or QueueTable()
        self.limits: Deadline = deadlines.completion
        #: whether the next take goes round-robin over executions
        self._fair = False
        #: the one-statement reads and writes (backlog, status, requeue); only
        #: the take holds a transaction of its own
        self.gateway = Gateway(pool, self.table, deadlines)

    def _statement(self, name: str) -> sql.Composed:
        return statements.render(name, self.table.schema, self.table.table)

    async def _limits(self, conn: psycopg.AsyncConnection[Any]) -> None:
        # the take joins its reports to the command table by key: guarded like
        # every keyed statement of the completion role (see set_limits.sql)
        await conn.execute(settings_statement(self.limits, "completion"), prepare=True)

    @asynccontextmanager
    async def take(self, limit: int) -> AsyncIterator[Batch]:
        """Up to ``limit`` deliverable reports (each its command's next), locked
        until the block ends; what the block put in ``settled`` is written then,
        in the same transaction."""
        try:
            async with (
                self.pool.connection(timeout=self.limits.client_seconds) as conn,
                conn.transaction(),
            ):
                # the take and the settling under their deadlines; the
                # deliveries between them under the reporter's own timeout
                async with deadline(conn, self.limits.client_seconds):
                    await self._limits(conn)
                    # prepared: planning the take's join to a partitioned
                    # command table (NoETL's) took longer than running it
                    # round-robin over executions while the fleet shares by
                    # execution, as the last take found (its rows say)
                    take = "outbox_take_fair" if self._fair else "outbox_take"
                    cur = await conn.execute(self._statement(take), {"limit": limit}, prepare=True)
                    rows = await cur.fetchall()
                if rows:
                    self._fair = bool(rows[0][-1])
                batch = Batch([_taken(row) for row in rows])
                yield batch
                if batch.settled:
                    async with deadline(conn, self.limits.client_seconds):
                        await conn.execute(
                            self._statement("outbox_settle"),
                            _settle_params(batch.settled),
                            prepare=True,
                        )
        except DRIVER_ERRORS as exc:
            raise translate(exc) from exc

    async def backlog(self, bound: int) -> int:
        """How many reports wait for delivery (parked ones aside), up to ``bound``."""
        # every relay round: under the completion role's deadline, not an operator's
        rows = await self.gateway.fetch("outbox_backlog", {"bound": bound}, role="completion")
        return int(rows[0][0])

    async def counts(self) -> dict[str, Any]:
        """``waiting``, ``parked`` and ``oldest_waiting`` (a time, or ``None``)."""
        return (await self.gateway.read("outbox_counts"))[0]

    async def parked(self, limit: int = 20) -> list[dict[str, Any]]:
        """The reports refused for good, oldest first, with the response."""
        return await self.gateway.read("outbox_parked", {"limit": limit})

    async def requeue(self, report_ids: Sequence[int] | None = None) -> int:
        """Send parked reports (all, or the ones named) again; how many."""
        ids = list(report_ids) if report_ids is not None else None
        rows = await self.gateway.read("outbox_requeue", {"report_ids": ids})
        return int(rows[0]["requeued"])


def _taken(row: tuple[Any, ...]) -> Taken:
    report_id, execution_id, command_id, kind, key, body, deliveries, status, _ = row
    entry = OutboxEntry(report_id, execution_id, command_id, kind, key, body, deliveries)
    return Taken(entry, status)


def _settle_params(settled: Sequence[Settled]) -> dict[str, list[Any]]:
    return {
        "report_ids": [s.report_id for s in settled],
        "outcomes": [s.outcome for s in settled],
        "delays": [s.delay for s in settled],
        "statuses": [s.status for s in settled],
        "texts": [s.text for s in settled],
    }

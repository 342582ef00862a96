"""`LeaseKeeper`: heartbeat every lease a worker holds, and act on the lost ones.

One statement a beat, on a connection of its own, extends the leases of every
command running here and of every row claimed ahead and waiting for a slot
(fenced on each claim). A lease found lost (claimed again, cancelled,
finished) interrupts its tool with the reason, so a cancel is seen at the next
beat; a row claimed ahead whose lease was lost is dropped, never run. A row
another transaction holds locked is skipped this beat, reported, and tried
again at the next.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any, Protocol

import psycopg_pool

from pgqueue.completer import Completer
from pgqueue.db.deadlines import Deadline, Deadlines
from pgqueue.db.gateway import Gateway
from pgqueue.dsn import keepalives
from pgqueue.errors import DatabaseError
from pgqueue.execution import Executions
from pgqueue.outcomes import ClaimedRow
from pgqueue.services import Loop

logger = logging.getLogger(__name__)


class Prefetching(Protocol):
    """A source that holds rows claimed ahead (`PgCommandSource`)."""

    def prefetched(self) -> list[Any]: ...
    def claim_of(self, handle: Any) -> ClaimedRow | None: ...
    def renewed(self, handles: Iterable[Any], since: float) -> None: ...
    def drop(self, handles: Iterable[Any]) -> None: ...


class LeaseKeeper(Loop):
    name = "pgqueue-lease-keeper"

    def __init__(
        self,
        completer: Completer,
        executions: Executions,
        source: Prefetching,
        *,
        interval: float,
        worker_id: str,
        on_progress: Callable[[int], None] = lambda written: None,
    ) -> None:
        super().__init__()
        #: told how many progress values each beat wrote (metrics)
        self.on_progress = on_progress
        self.completer = completer
        self.executions = executions
        self.source = source
        self.interval = interval
        self.worker_id = worker_id

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self.beat()

    async def beat(self) -> None:
        # a command its tool's own transaction finished holds no lease to keep
        running = [r for r in self.executions.running() if r.leased is not None]
        ahead = [(h, c) for h in self.source.prefetched() if (c := self.source.claim_of(h))]
        claims = [r.leased for r in running if r.leased] + [c for _, c in ahead]
        if not claims:
            return
        since = asyncio.get_running_loop().time()
        # what the tools said of their progress since the last beat
        said = {
            r.claim.key: r.progress
            for r in running
            if r.claim is not None and r.progress is not None
        }
        try:
            beat = await self.completer.heartbeat(claims, said)
        except DatabaseError as exc:
            logger.warning(
                "heartbeat failed (will retry): %s",
                exc,
                extra={"worker_id": self.worker_id, "action": "heartbeat"},
            )
            return
        for r in running:
            if (claim := r.leased) is not None and claim.key in beat.lost:
                self.executions.interrupt(r, beat.lost[claim.key])
            elif (
                r.claim is not None
                and r.claim.key in beat.held
                # written, unless the tool said something newer meanwhile
                and r.progress == said.get(r.claim.key)
            ):
                r.progress = None
        if said:
            self.on_progress(sum(1 for key in said if key in beat.held))
        self.source.renewed((h for h, c in ahead if c.key in beat.held), since)
        self.source.drop(h for h, c in ahead if c.key in beat.lost)
        for claim in beat.skipped:
            logger.warning(
                "lease of command %s not extended: another transaction holds its row "
                "locked; trying again at the next beat",
                claim.command_id,
                extra={
                    "worker_id": self.worker_id,
                    "command_id": claim.command_id,
                    "execution_id": claim.execution_id,
                    "action": "heartbeat_skipped",
                },
            )


def heartbeat_gateway(
    pool: psycopg_pool.AsyncConnectionPool[Any],
    gateway: Gateway,
    *,
    lease_for: timedelta,
    deadlines: Deadlines,
    worker_id: str,
) -> tuple[psycopg_pool.AsyncConnectionPool[Any] | None, Gateway]:
    """Where a source's heartbeats run: a connection of their own, never shared
    with the tools or queued behind claims (a starved pool must not let leases
    run out), each beat's deadline within a third of the lease. A pool with a
    dynamic conninfo (a callable) heartbeats on the pool itself."""
    if not isinstance(pool.conninfo, str):
        return None, gateway
    kwargs = pool.kwargs if isinstance(pool.kwargs, dict) else {}
    own = psycopg_pool.AsyncConnectionPool(
        pool.conninfo,
        kwargs={**keepalives(pool.conninfo, kwargs), **kwargs},
        min_size=1,
        max_size=1,
        open=False,
        name=f"pgqueue-heartbeat-{worker_id}",
    )
    beat = deadlines.heartbeat
    third = lease_for / 3
    if beat.statement > third:
        beat = Deadline(third, min(beat.lock, third))
    return own, Gateway(own, gateway.table, dataclasses.replace(deadlines, heartbeat=beat))

"""The worker's scheduler: enqueues every schedule's ticks, exactly once across
the fleet, with no leader.

Every worker runs one. Each round it reads the schedules with the database's
clock, works out each one's due ticks under its policy (`pgqueue.cron.due`),
and moves the schedule's watermark and enqueues those ticks in one statement,
``schedule_fire.sql``: a compare-and-swap on the watermark it read, so when two
workers see the same ticks the second enqueues nothing. A worker killed
between the two cannot have done half: the statement is one transaction. It
then sleeps until the soonest next tick (at most `POLL` seconds, so that a
schedule added meanwhile is seen).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from pgqueue.cron import Due, due
from pgqueue.db.gateway import Gateway
from pgqueue.errors import DatabaseError
from pgqueue.schedules import schedule_of
from pgqueue.services import Loop

logger = logging.getLogger(__name__)

#: the longest the scheduler sleeps between rounds, in seconds
POLL = 1.0
#: how soon after a tick's time a worker wakes for it, in seconds (a round
#: that wakes a hair early finds the tick not yet due, and sleeps again)
MARGIN = 0.002

#: the SQLSTATE of a role that may not write what it must
INSUFFICIENT_PRIVILEGE = "42501"


class Scheduler(Loop):
    """Enqueues due ticks each round (`round`), from its start until stopped."""

    name = "pgqueue-scheduler"

    def __init__(self, gateway: Gateway, *, worker_id: str) -> None:
        super().__init__()
        self.gateway = gateway
        self.worker_id = worker_id
        #: ticks this scheduler enqueued (the fleet's others enqueued the rest)
        self.fired = 0

    async def run(self) -> None:
        while True:
            try:
                wait = await self.round()
            except DatabaseError as exc:
                if exc.sqlstate == INSUFFICIENT_PRIVILEGE:
                    logger.warning(
                        "schedules off in this worker: its role may not enqueue (%s);"
                        " grant it pgqueue_producer to run schedules here",
                        exc,
                        extra={"worker_id": self.worker_id, "action": "schedule"},
                    )
                    return
                logger.warning(
                    "could not enqueue schedules' ticks (will retry): %s",
                    exc,
                    extra={"worker_id": self.worker_id, "action": "schedule"},
                )
                wait = POLL
            await asyncio.sleep(wait)

    async def round(self) -> float:
        """Enqueue every schedule's due ticks; seconds until the soonest next tick
        (at most `POLL`)."""
        rows = await self.gateway.read("schedule_list", {"name": None})
        wait = POLL
        for row in rows:
            if row["paused_at"] is not None:
                continue
            schedule = schedule_of(row)
            now: datetime = row["now"]
            ticks = due(schedule.timing, schedule.policy, schedule.last_tick, now)
            if ticks.watermark > schedule.last_tick:
                await self._fire(schedule.name, schedule.last_tick, ticks)
            wait = min(wait, (ticks.next_tick - now).total_seconds() + MARGIN)
        return max(wait, MARGIN)

    async def _fire(self, name: str, seen: datetime, ticks: Due) -> None:
        params = {
            "name": name,
            "seen": seen,
            "watermark": ticks.watermark,
            "ticks": [label(t) for t in ticks.ticks],
        }
        (row,) = await self.gateway.read("schedule_fire", params)
        if not row["moved"]:
            return  # another worker enqueued these ticks first
        ids = row["command_ids"]
        self.fired += len(ids)
        logger.info(
            "schedule %s: enqueued %d tick(s)%s",
            name,
            len(ids),
            f", skipped {ticks.skipped} missed" if ticks.skipped else "",
            extra={
                "worker_id": self.worker_id,
                "action": "schedule",
                "schedule": name,
                "ticks": [label(t) for t in ticks.ticks],
                "skipped": ticks.skipped,
            },
        )


def label(tick: datetime) -> str:
    """A tick as its commands' meta says it: UTC, ISO 8601, ``Z``."""
    return tick.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

"""`Registry`: a worker process's row in the worker registry (migration 0009).

Made at start, refreshed every `INTERVAL` seconds, removed on shutdown. A row
whose heartbeat is older than `STALE` belongs to a process that died without
removing it: another may take its worker id. A live one may not: two
processes under one worker id would split each other's work and fence each
other's writes silently, so the second one is refused (`WorkerIdInUse`).

Rows of a stale registry entry are **not** rescued before their lease ends.
The lease is what makes a claim safe to take over (every write after it is
fenced on it); a registry row goes stale also when only its heartbeat's
connection is cut while the worker runs on, and a lease already bounds the
wait for a dead worker's rows (30 s by default).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Sequence
from datetime import timedelta

from pgqueue.db.gateway import Gateway
from pgqueue.errors import DatabaseError, PgQueueError
from pgqueue.services import Loop

logger = logging.getLogger(__name__)

#: seconds between a worker's registry heartbeats
INTERVAL = 10.0
#: a registry row without a heartbeat this long is stale: its worker is gone
STALE = timedelta(seconds=3 * INTERVAL)


class WorkerIdInUse(PgQueueError):
    """Another live process holds this worker id."""


class Registry(Loop):
    name = "pgqueue-registry"

    def __init__(
        self,
        gateway: Gateway,
        *,
        worker_id: str,
        tool_kinds: Sequence[str],
        concurrency: int,
        interval: float = INTERVAL,
    ) -> None:
        super().__init__()
        self.gateway = gateway
        self.worker_id = worker_id
        self.tool_kinds = list(tool_kinds)
        self.concurrency = concurrency
        self.interval = interval
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self._failing = False

    def _me(self) -> dict[str, object]:
        return {"worker_id": self.worker_id, "host": self.host, "pid": self.pid}

    async def join(self) -> None:
        """Record this process; raises `WorkerIdInUse` if a live one has its id."""
        joined = await self.gateway.read(
            "registry_join",
            {
                **self._me(),
                "tool_kinds": self.tool_kinds,
                "concurrency": self.concurrency,
                "stale": STALE,
            },
        )
        if joined:
            return
        holder = await self.gateway.read("registry_holder", {"worker_id": self.worker_id})
        where = (
            f"{holder[0]['host']} pid {holder[0]['pid']}, last heartbeat "
            f"{float(holder[0]['beat_seconds']):.0f}s ago"
            if holder
            else "another process"
        )
        raise WorkerIdInUse(
            f"worker id {self.worker_id!r} is in use by a live worker ({where}): give each "
            "worker its own --worker-id"
        )

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                beat = await self.gateway.read("registry_beat", self._me())
                if not beat:  # gone stale and taken over, or removed: join again
                    await self.join()
                self._failing = False
            except WorkerIdInUse as exc:
                logger.error("%s", exc, extra={"worker_id": self.worker_id, "action": "registry"})
            except DatabaseError as exc:
                if not self._failing:
                    logger.warning(
                        "cannot heartbeat this worker's registry row (tried again every %gs): %s",
                        self.interval,
                        exc,
                        extra={"worker_id": self.worker_id, "action": "registry_retry"},
                    )
                self._failing = True

    async def stop(self) -> None:
        await super().stop()
        try:
            await self.gateway.read("registry_leave", self._me())
        except DatabaseError as exc:
            logger.warning(
                "could not remove this worker's registry row (it goes stale by itself): %s",
                exc,
                extra={"worker_id": self.worker_id, "action": "registry_leave"},
            )


async def unserved(gateway: Gateway, tool_kinds: Sequence[str]) -> list[str]:
    """Of ``tool_kinds``, those no live worker serves."""
    rows = await gateway.read("registry_unserved", {"tool_kinds": list(tool_kinds), "stale": STALE})
    return [r["tool_kind"] for r in rows]

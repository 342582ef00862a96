"""`RuntimeHeartbeat`: the worker's liveness, in NoETL's runtime registry.

Where the queue's schema has NoETL's ``runtime`` table, a worker keeps its row
there (``kind 'worker_pool'``, ``name`` its worker id, the id it writes on the
rows it claims): made at start, refreshed every `INTERVAL` seconds (NoETL's own
workers every 15 s; its claim policy reads a claim whose worker has no fresh
row as orphaned), and marked ``offline`` on shutdown. A failed beat is logged
once per outage and tried at the next.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Sequence

from pgqueue.db.gateway import Gateway
from pgqueue.db.noetl import runtime_beat, runtime_stop
from pgqueue.errors import DatabaseError
from pgqueue.services import Loop

logger = logging.getLogger(__name__)

#: seconds between beats: within NoETL's 15 s
INTERVAL = 10.0


class RuntimeHeartbeat(Loop):
    name = "pgqueue-noetl-runtime"

    def __init__(
        self,
        gateway: Gateway,
        *,
        worker_id: str,
        capacity: int,
        tool_kinds: Sequence[str],
        interval: float = INTERVAL,
    ) -> None:
        super().__init__()
        self.gateway = gateway
        self.worker_id = worker_id
        self.capacity = capacity
        self.tool_kinds = tuple(tool_kinds)
        self.interval = interval
        self.beats = 0
        self._failing = False

    async def run(self) -> None:
        while True:
            try:
                await runtime_beat(
                    self.gateway,
                    name=self.worker_id,
                    capacity=self.capacity,
                    tool_kinds=self.tool_kinds,
                    runtime={"host": socket.gethostname(), "pid": os.getpid()},
                )
                self.beats += 1
                if self._failing:
                    logger.warning(
                        "runtime heartbeat written again",
                        extra={"worker_id": self.worker_id, "action": "runtime_recovered"},
                    )
                self._failing = False
            except DatabaseError as exc:
                if not self._failing:
                    logger.warning(
                        "cannot write this worker's NoETL runtime row (tried again every %gs): %s",
                        self.interval,
                        exc,
                        extra={"worker_id": self.worker_id, "action": "runtime_retry"},
                    )
                self._failing = True
            await asyncio.sleep(self.interval)

    async def stop(self) -> None:
        await super().stop()
        try:
            await runtime_stop(self.gateway, name=self.worker_id)
        except DatabaseError as exc:
            logger.warning(
                "could not mark this worker offline in NoETL's runtime registry: %s",
                exc,
                extra={"worker_id": self.worker_id, "action": "runtime_stop"},
            )

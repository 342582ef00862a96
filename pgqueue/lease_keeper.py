"""`LeaseKeeper`: heartbeat every lease a worker holds, and act on the lost ones.

One statement a beat extends the leases of every command running here (fenced
on each claim); a lease found lost (claimed again, cancelled, finished)
interrupts its tool with the reason, so a cancel is seen at the next beat.
"""

from __future__ import annotations

import asyncio
import logging

from pgqueue.completer import Completer
from pgqueue.errors import DatabaseError
from pgqueue.execution import Executions
from pgqueue.services import Loop

logger = logging.getLogger(__name__)


class LeaseKeeper(Loop):
    name = "pgqueue-lease-keeper"

    def __init__(
        self, completer: Completer, executions: Executions, *, interval: float, worker_id: str
    ) -> None:
        super().__init__()
        self.completer = completer
        self.executions = executions
        self.interval = interval
        self.worker_id = worker_id

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            running = [r for r in self.executions.running() if r.claim is not None]
            if not running:
                continue
            try:
                lost = await self.completer.heartbeat([r.claim for r in running if r.claim])
            except DatabaseError as exc:
                logger.warning(
                    "heartbeat failed (will retry): %s",
                    exc,
                    extra={"worker_id": self.worker_id, "action": "heartbeat"},
                )
                continue
            for r in running:
                if r.claim is not None and r.claim.key in lost:
                    self.executions.interrupt(r, lost[r.claim.key])

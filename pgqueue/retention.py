"""Retention: delete finished commands older than a window.

Off by default on a NoETL table (NoETL reads its finished rows), on with a
7-day window on a table pgqueue created. ``FAILED`` rows are kept unless asked:
they are the dead letters an operator may want to requeue.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta

from pgqueue.db.gateway import Gateway
from pgqueue.errors import DatabaseError
from pgqueue.services import Loop
from pgqueue.states import FINISHED, Status

logger = logging.getLogger(__name__)

DEFAULT_WINDOW = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class Retention:
    older_than: timedelta
    include_failed: bool = False
    every: float = 600.0

    @property
    def statuses(self) -> tuple[str, ...]:
        kept = () if self.include_failed else (Status.FAILED,)
        return tuple(sorted(s.value for s in FINISHED if s not in kept))


async def default_for(gateway: Gateway) -> Retention | None:
    """7 days on a table pgqueue created; ``None`` (off) on NoETL's own, and for a
    role that may not delete (``pgqueue_worker`` without a DELETE grant)."""
    if not await gateway.created_by_pgqueue():
        return None
    if not await gateway.can_delete():
        logger.info(
            "retention off: this role may not delete from the queue table",
            extra={"action": "prune"},
        )
        return None
    return Retention(DEFAULT_WINDOW)


class Pruner(Loop):
    """Prunes every ``retention.every`` seconds, from its start until stopped."""

    name = "pgqueue-pruner"

    def __init__(self, gateway: Gateway, retention: Retention) -> None:
        super().__init__()
        self.gateway = gateway
        self.retention = retention

    async def run(self) -> None:
        retention = self.retention
        while True:
            try:
                deleted = await self.gateway.prune(
                    older_than=retention.older_than, statuses=retention.statuses
                )
                if deleted:
                    logger.info(
                        "pruned %d finished command(s) older than %s",
                        deleted,
                        retention.older_than,
                        extra={"action": "prune", "deleted": deleted},
                    )
            except DatabaseError as exc:
                logger.warning("pruning failed (will retry): %s", exc, extra={"action": "prune"})
            await asyncio.sleep(retention.every)

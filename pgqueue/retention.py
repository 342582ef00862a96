"""Retention: delete finished commands older than a window.

Off by default on a NoETL table (NoETL reads its finished rows), on with a
7-day window on a table pgqueue created. ``FAILED`` rows are kept unless asked:
they are the dead letters an operator may want to requeue.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
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
    if not await created_by_pgqueue(gateway):
        return None
    if not await can_delete(gateway):
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
                deleted = await prune(
                    self.gateway, older_than=retention.older_than, statuses=retention.statuses
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


# -- the statements, on the queue's gateway --------------------------------------------


async def created_by_pgqueue(gateway: Gateway) -> bool:
    """Whether pgqueue created the table (rather than NoETL's control plane)."""
    regclass = gateway.table.identifier.as_string(None)
    rows = await gateway.read("table_origin", {"regclass": regclass})
    return bool(rows and rows[0]["comment"] == "created by pgqueue")


async def can_delete(gateway: Gateway) -> bool:
    """Whether this role may delete from the queue table."""
    regclass = gateway.table.identifier.as_string(None)
    rows = await gateway.read("can_delete", {"regclass": regclass})
    return bool(rows and rows[0]["allowed"])


async def prunable(gateway: Gateway, *, older_than: timedelta, statuses: Sequence[str]) -> int:
    """How many finished rows a prune with this window would delete."""
    params = {"older_than": older_than, "statuses": list(statuses)}
    return int((await gateway.fetch("prune_count", params, role="operator"))[0][0])


async def prune(
    gateway: Gateway, *, older_than: timedelta, statuses: Sequence[str], batch: int = 10_000
) -> int:
    """Delete finished rows older than the window, batch by batch."""
    total = 0
    while True:
        rows = await gateway.fetch(
            "prune",
            {"older_than": older_than, "statuses": list(statuses), "batch": batch},
            role="operator",
        )
        deleted = int(rows[0][0])
        total += deleted
        if deleted < batch:
            return total

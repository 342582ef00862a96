"""`FinishedExecutions`: no work for an execution that is over.

Where the queue's schema has NoETL's ``event`` table, a command whose execution
has ended is never started. An execution has ended when it has a terminal event
(``playbook.completed``, ``playbook.failed``, ``workflow.completed``,
``workflow.failed``, ``execution.cancelled``): NoETL's own claim rule. The
execution row's status is not: a failed step sets it ``FAILED`` while the
engine still issues the steps after it, and emits ``playbook.failed`` only once
they are reported. A scan claim ends such rows ``CANCELLED`` with the event that
ended them in its own transaction and round trip (``db/sql/cancel_ended.sql``,
an index probe per claimed row), and hands out the rest; a claim by id does the
same with a statement right after it (``db/sql/cancel_dead.sql``), and gives its
row back when that statement fails.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

from pgqueue.db.gateway import Gateway
from pgqueue.db.noetl import cancel_dead, noetl_tables
from pgqueue.errors import DatabaseError
from pgqueue.outcomes import ClaimedRow

logger = logging.getLogger(__name__)


class FinishedExecutions:
    """``enabled``: whether to look; ``None``: where the event table exists
    (looked up once, at the first claim)."""

    def __init__(
        self,
        gateway: Gateway,
        worker_id: str,
        enabled: bool | None,
        *,
        give_back: Callable[[Sequence[ClaimedRow], str], Awaitable[None]],
    ) -> None:
        self.gateway = gateway
        self.worker_id = worker_id
        self.enabled = enabled
        self.give_back = give_back

    async def look_up(self) -> None:
        """Learn ``enabled`` if it is not known yet: before a claim, since a
        failure after one would leave its rows claimed and not run."""
        if self.enabled is None:
            self.enabled = (await noetl_tables(self.gateway)).event

    def cancelled(self, ended: list[tuple[int, int, str]]) -> None:
        """The rows a claim ended ``CANCELLED`` (execution, command, the
        terminal event): one line each."""
        for execution_id, command_id, event in ended:
            self._log(execution_id, command_id, event)

    def _log(self, execution_id: int, command_id: int, event: str | None = None) -> None:
        logger.info(
            "command %s not started: its execution %s has ended%s",
            command_id,
            execution_id,
            f" ({event})" if event else "",
            extra={
                "worker_id": self.worker_id,
                "command_id": command_id,
                "execution_id": execution_id,
                "action": "cancelled",
            },
        )

    async def live(self, rows: list[ClaimedRow]) -> list[ClaimedRow]:
        """``rows`` (just claimed by id) less those of finished executions, which end
        ``CANCELLED`` (`look_up` first). If the look fails, the rows go back to
        ``PENDING`` at once, rather than wait out their leases (an attempt
        each), and the error is raised."""
        if not self.enabled or not rows:
            return rows
        try:
            cancelled = await cancel_dead(self.gateway, rows)
        except DatabaseError:
            await self.give_back(rows, "could not look for ended executions")
            raise
        if not cancelled:
            return rows
        for execution_id, command_id in cancelled:
            self._log(execution_id, command_id)
        return [row for row in rows if row.key not in cancelled]

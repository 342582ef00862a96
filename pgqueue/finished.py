"""`FinishedExecutions`: no work for an execution that is over.

Where the queue's schema has NoETL's ``event`` table, a command whose execution
has ended is never started. An execution has ended when it has a terminal event
(``playbook.completed``, ``playbook.failed``, ``workflow.completed``,
``workflow.failed``, ``execution.cancelled``): NoETL's own claim rule. The
execution row's status is not: a failed step sets it ``FAILED`` while the
engine still issues the steps after it, and emits ``playbook.failed`` only once
they are reported. Every claim, a scan claim or a claim by id, ends such rows
``CANCELLED`` with the event that ended them in its own transaction and round
trip (``db/sql/cancel_ended.sql``, an index probe per claimed row), and hands
out the rest.
"""

from __future__ import annotations

import logging

from pgqueue.db.ended import Tell
from pgqueue.db.gateway import Gateway
from pgqueue.db.noetl import noetl_tables

logger = logging.getLogger(__name__)


class FinishedExecutions:
    """``enabled``: whether to look; ``None``: where the event table exists
    (looked up once, before the first claim)."""

    def __init__(self, gateway: Gateway, worker_id: str, enabled: bool | None) -> None:
        self.gateway = gateway
        self.worker_id = worker_id
        self.enabled = enabled

    async def look_up(self) -> None:
        """Learn ``enabled`` if it is not known yet (before a claim: the claim
        renders its look with it)."""
        if self.enabled is None:
            self.enabled = (await noetl_tables(self.gateway)).event

    @property
    def ended(self) -> Tell | None:
        """What a claim tells of the rows it ended ``CANCELLED`` (``None``: it
        does not look; `look_up` first)."""
        return self._cancelled if self.enabled else None

    def _cancelled(self, ended: list[tuple[int, int, str]]) -> None:
        for execution_id, command_id, event in ended:
            logger.info(
                "command %s not started: its execution %s has ended (%s)",
                command_id,
                execution_id,
                event,
                extra={
                    "worker_id": self.worker_id,
                    "command_id": command_id,
                    "execution_id": execution_id,
                    "action": "cancelled",
                },
            )

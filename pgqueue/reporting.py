"""Reporting: what a worker tells others about each command, and never loses.

A `Reporter` is told when a command starts and how each attempt ended, and
answers with a `Report` (or ``None``: nothing to say). pgqueue writes each
report into the outbox table (``pgqueue_outbox``, migration 0008) **in the
same statement as the row's own fenced write**: the ``RUNNING`` mark for a
start, the completion or the nack for an ending. So a crash between the row
and the report loses neither without the other, and a worker whose claim was
lost (fenced out) reports nothing. A relay in every worker process
(`pgqueue.relay.Relay`) then delivers each report through the reporter's
`Reporter.deliver`, again and again until it is `Delivered` or `Refused`;
any worker delivers any stranded report. Per command the start report is
delivered before the final one.

A command has at most one report of each kind (``started``, ``finished``): a
second one given for the same command (a retried attempt's start, a write
tried again) is dropped in favour of the first. A `Report` keeps its
``key`` on every delivery, so an idempotent receiver stores it once.

The default is `RowOnly`: the row is the whole record, nothing is reported.
`pgqueue.noetl.NoetlReporter` reports to NoETL's control plane. A reporter of
your own (publishing to your application, say) implements the same four
methods; `started` and `ended` are called on the worker's hot path and must
not block (build the report, nothing more); `deliver` may take its time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from pgqueue.errors import PgQueueError
from pgqueue.outcomes import ClaimedRow

ReportKind = Literal["started", "finished"]


class UnreportableResult(PgQueueError):
    """A tool's output the receiver would refuse (too large, a shape it does not
    take): the command fails, for good, with this message, instead."""


@dataclass(frozen=True, slots=True)
class Ending:
    """How one attempt of a command ended."""

    #: ``COMPLETED``; ``FAILED`` (for good); ``RETRIED`` (due again after a backoff)
    status: Literal["COMPLETED", "FAILED", "RETRIED"]
    #: the attempt's number, from 1
    attempt: int
    #: the tool's output as JSON text (``COMPLETED`` only)
    result_json: str | None = None
    #: why the attempt failed (``FAILED``, ``RETRIED``)
    error: str | None = None

    @property
    def final(self) -> bool:
        """Whether the command is finished (nothing more will run)."""
        return self.status != "RETRIED"


@dataclass(frozen=True, slots=True)
class Report:
    """One report: its body (JSON text) and the key it is delivered under, every
    time (an idempotency key: the receiver stores the report once)."""

    body: str
    key: str


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """A report waiting in the outbox, as the relay hands it to `Reporter.deliver`."""

    report_id: int
    execution_id: int
    command_id: int
    kind: ReportKind
    key: str
    body: Any
    #: deliveries tried before this one
    deliveries: int


@dataclass(frozen=True, slots=True)
class Delivered:
    """The receiver has the report: it leaves the outbox."""


@dataclass(frozen=True, slots=True)
class Retry:
    """Not delivered this time (the receiver is down, busy, or timed out): tried
    again after a backoff, or after ``after`` seconds when the receiver said so
    (``Retry-After``)."""

    reason: str
    after: float | None = None


@dataclass(frozen=True, slots=True)
class Refused:
    """The receiver refused the report for good (a 4xx): it is parked with the
    response, for an operator (``pgqueue status``, ``pgqueue requeue --reports``)."""

    status: int
    response: str


Delivery = Delivered | Retry | Refused


class Reporter(Protocol):
    """What a worker tells about its commands, and how it is delivered."""

    def started(self, row: ClaimedRow, worker_id: str) -> Report | None:
        """The report that the command's tool starts (``None``: none)."""
        ...

    def ended(self, row: ClaimedRow, ending: Ending, worker_id: str) -> Report | None:
        """The report of how an attempt ended (``None``: none). May raise
        `UnreportableResult` for an output the receiver would refuse."""
        ...

    async def deliver(self, entry: OutboxEntry) -> Delivery:
        """Deliver one report; never raises for a failed delivery (say `Retry`)."""
        ...

    async def aclose(self) -> None:
        """Release what delivering holds (connections)."""
        ...


class RowOnly:
    """The default: the row is the whole record; nothing is reported."""

    def started(self, row: ClaimedRow, worker_id: str) -> Report | None:
        return None

    def ended(self, row: ClaimedRow, ending: Ending, worker_id: str) -> Report | None:
        return None

    async def deliver(self, entry: OutboxEntry) -> Delivery:
        return Refused(0, "this worker reports nothing")

    async def aclose(self) -> None:
        return None


def outbox_item(row: ClaimedRow, kind: ReportKind, report: Report) -> str:
    """A report as the writes after a claim pass it to the outbox (one element of
    their ``reports`` array, see ``db/sql/part_outbox_insert.sql``); the body,
    already JSON text, is spliced in rather than parsed and dumped again."""
    head = json.dumps(
        {
            "execution_id": row.execution_id,
            "command_id": row.command_id,
            "kind": kind,
            "key": report.key,
        }
    )
    return f'{head[:-1]}, "body": {report.body}}}'

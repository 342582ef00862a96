"""`Relay`: delivers the outbox's reports, in every worker process.

Each round takes up to `Relay.batch` due reports (``FOR UPDATE SKIP LOCKED``:
relays of other workers take others, and any relay takes a report its writer
left behind, say by dying before it was sent), delivers them at once through
the `Reporter`, and settles each in the same transaction:

- delivered: deleted;
- not delivered (the receiver down, busy, timed out; a 408, 429 or 5xx): due
  again after a backoff with jitter (`DELIVERY_RETRY`, 1 s doubling to 60 s),
  or after the receiver's ``Retry-After`` when it gave one, whichever is later;
  never given up on, and sent with the same idempotency key every time;
- refused for good (any other 4xx): parked with the response, for an operator.

Per command the start report goes before the final one: a take hands out a
report only with every earlier one of its command, and the relay sends a
command's reports one after the other, the final only once the start got
through (or was parked); one left unsent stays as it was, for the next round.
A fast command's two reports so leave in one round. A start report whose
command went back to ``PENDING`` (its attempt failed and it waits for a retry)
is stale: dropped, not sent, so the receiver is never told a waiting command
runs.

**The backlog bound.** While `backlog` or more reports wait, the worker claims
nothing (`paused`; the claims idle as if the queue were empty): a control
plane that is down makes the outbox grow only so far, never lose anything.
The pause is logged once (again only after `ANNOUNCE_EVERY`, however often
the backlog drains and fills meanwhile). It claims again when the backlog is down to
half. The count is the outbox's, read every round, plus what this process
wrote since.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from pgqueue.backoff import RetryPolicy
from pgqueue.db.outbox import Outbox, Settled, Taken
from pgqueue.errors import DatabaseError
from pgqueue.reporting import Delivered, Delivery, Refused, Reporter, Retry
from pgqueue.services import Loop
from pgqueue.states import Status

logger = logging.getLogger(__name__)

#: the backoff between deliveries of a report that did not get through
DELIVERY_RETRY = RetryPolicy(base=1.0, factor=2.0, cap=60.0, jitter=0.5)


#: a backlog pause is logged at most this often (seconds)
ANNOUNCE_EVERY = 60.0


class Relay(Loop):
    """Delivers the reports waiting in ``outbox`` through ``reporter``.

    :param backlog: past this many waiting reports the worker stops claiming.
    :param batch: the most reports one round takes: a report written meanwhile
        waits for the round to end, so rounds are small (docs/noetl.md).
    :param idle: the longest a relay waits between rounds when there is nothing
        to send (a report this process writes wakes it at once, see `poke`).
    :param drain: on `stop`, how long the relay goes on delivering what is due.
    """

    name = "pgqueue-relay"

    def __init__(
        self,
        outbox: Outbox,
        reporter: Reporter,
        *,
        backlog: int = 10_000,
        batch: int = 16,
        idle: float = 1.0,
        drain: float = 5.0,
        worker_id: str = "worker",
    ) -> None:
        super().__init__()
        if backlog < 1:
            raise ValueError("backlog must be >= 1")
        self.outbox = outbox
        self.reporter = reporter
        self.backlog = backlog
        self.batch = batch
        self.idle = idle
        self.drain = drain
        self.worker_id = worker_id
        #: reports delivered, retried, parked and dropped as stale by this relay
        self.counts = {"delivered": 0, "retried": 0, "parked": 0, "stale": 0}
        self.waiting = 0
        #: reports counted (`count`) whose write is not over yet: the outbox's
        #: count cannot see them, and a pause must not lift for want of them
        self._uncommitted = 0
        self._paused_since: float | None = None
        #: when a pause was last logged, and how many pauses there were
        self._announced: float | None = None
        self._pauses = 0
        self._wake = asyncio.Event()
        self._stopping = False
        self._outage: str | None = None

    # -- what the worker asks -------------------------------------------------------

    def count(self, pending: int) -> None:
        """``pending`` reports are about to be written: count them against the
        backlog bound now, and in every count of the outbox until `committed`."""
        self.waiting += pending
        self._uncommitted += pending

    def committed(self, pending: int) -> None:
        """A write of ``pending`` counted reports is over (committed, or failed):
        the outbox's own count holds them now; deliver at once."""
        self._uncommitted -= pending
        self._wake.set()

    def poke(self, written: int = 1) -> None:
        """``written`` reports were written: deliver now rather than at the next
        idle poll (and count them until the next round counts the outbox)."""
        self.waiting += written
        self._wake.set()

    def paused(self) -> str | None:
        """Why the worker must not claim now (``None``: it may)."""
        now = time.monotonic()
        if self._paused_since is None and self.waiting >= self.backlog:
            self._paused_since = now
            self._pauses += 1
            # one line for a control plane's trouble, not one per pause: a backlog
            # that drains and fills again soon after is the same trouble
            if self._announced is None or now - self._announced > ANNOUNCE_EVERY:
                self._announced = now
                logger.warning(
                    "%s",
                    self._reason(),
                    extra={"worker_id": self.worker_id, "action": "reports_backlog"},
                )
        elif self._paused_since is not None and self.waiting <= self.backlog // 2:
            self._paused_since = None
        return None if self._paused_since is None else self._reason()

    def _reason(self) -> str:
        return (
            f"{self.waiting} reports wait for the control plane (the backlog bound is "
            f"{self.backlog}): claiming paused until they are down to {self.backlog // 2}"
        )

    # -- the loop -------------------------------------------------------------------

    async def run(self) -> None:
        # whatever the first delivery would load or open, before it is waited for
        warm = getattr(self.reporter, "warm", None)
        if warm is not None:
            await warm()
        streak = 0
        while True:
            try:
                sent = await self.round()
                await self._measure()
            except DatabaseError as exc:
                streak += 1
                self._down(f"cannot read the outbox: {exc}")
                await self._sleep(DELIVERY_RETRY.delay(streak).total_seconds())
                continue
            streak = 0
            if self._stopping and not sent:
                return
            if not sent:
                await self._sleep(self.idle)

    async def stop(self) -> None:
        """Deliver what is due for up to `drain` seconds, then stop; what is left
        stays in the outbox for another worker's relay."""
        task = self._task
        if task is not None and not task.done():
            self._stopping = True
            self._wake.set()
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(task), self.drain)
        await super().stop()
        await self.reporter.aclose()

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)
        self._wake.clear()

    async def round(self) -> int:
        """Take, deliver and settle one batch; how many reports were taken."""
        async with self.outbox.take(self.batch) as batch:
            if not batch.taken:
                return 0
            by_command: dict[tuple[int, int], list[Taken]] = {}
            for taken in batch.taken:
                entry = taken.entry
                by_command.setdefault((entry.execution_id, entry.command_id), []).append(taken)
            results = await asyncio.gather(*(self._in_order(t) for t in by_command.values()))
            batch.settled.extend(s for settled in results for s in settled)
        return len(batch.taken)

    async def _in_order(self, reports: list[Taken]) -> list[Settled]:
        """One command's reports, one after the other; after one that must be
        tried again, the rest are left as they are (not settled, not counted)."""
        settled: list[Settled] = []
        for taken in reports:
            outcome = await self._deliver(taken)
            settled.append(outcome)
            if outcome.outcome == "retry":
                break
        return settled

    async def _deliver(self, taken: Taken) -> Settled:
        entry = taken.entry
        if entry.kind == "started" and taken.command_status == Status.PENDING:
            self.counts["stale"] += 1
            return Settled(entry.report_id, "delivered")
        try:
            delivery: Delivery = await self.reporter.deliver(entry)
        except Exception as exc:  # a reporter's bug must not stop the relay
            delivery = Retry(f"{type(exc).__name__}: {exc}")
        match delivery:
            case Delivered():
                self.counts["delivered"] += 1
                self._up()
                return Settled(entry.report_id, "delivered")
            case Refused(status=status, response=response):
                self.counts["parked"] += 1
                logger.error(
                    "report %s of command %s refused (%s), parked: %s",
                    entry.kind,
                    entry.command_id,
                    status,
                    response[:200],
                    extra={
                        "worker_id": self.worker_id,
                        "command_id": entry.command_id,
                        "execution_id": entry.execution_id,
                        "action": "report_parked",
                    },
                )
                return Settled(entry.report_id, "parked", status=status, text=response[:4000])
            case Retry(reason=reason, after=after):
                self.counts["retried"] += 1
                self._down(f"cannot deliver reports: {reason}")
                delay = DELIVERY_RETRY.delay(entry.deliveries + 1).total_seconds()
                if after is not None:
                    delay = max(delay, after)
                return Settled(entry.report_id, "retry", delay=delay, text=reason[:4000])
        raise AssertionError(f"not a delivery: {delivery!r}")  # pragma: no cover

    # -- the backlog and outages, one log line each -----------------------------------

    async def _measure(self) -> None:
        # the outbox as it is: every worker's reports, less what got through,
        # and this process's that are being written
        self.waiting = await self.outbox.backlog(self.backlog + 1) + self._uncommitted

    def _down(self, reason: str) -> None:
        if self._outage is None:
            logger.warning(
                "%s; retrying with backoff, nothing is lost",
                reason,
                extra={"worker_id": self.worker_id, "action": "report_retry"},
            )
        self._outage = reason

    def _up(self) -> None:
        if self._outage is not None:
            logger.warning(
                "delivering reports again",
                extra={"worker_id": self.worker_id, "action": "report_recovered"},
            )
        self._outage = None

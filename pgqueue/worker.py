"""`Worker`: pull from a `CommandSource`, run each command's tool, record the result.

Per outcome it follows the seed's caller rules: `Claimed` → ack, then run;
`AlreadyClaimed` → ack; `RetryLater` → nack and back off; `Failed` → nack and
report. Up to ``concurrency`` commands run at once; each slot calls ``next()``
on its own, and `PgCommandSource` folds the concurrent calls into one claim.

With a source that holds leases (`LeasedSource`, such as `PgCommandSource`),
the worker also marks the command ``RUNNING``, heartbeats every lease it holds
(`LeaseKeeper`), and finishes with ``COMPLETED`` or a retry / ``FAILED``
(`Recorder`), all through the source's `Completer`, fenced on the claim: a
worker whose lease was lost gets `LeaseLost` and its tool is cancelled. A
cancelled command's tool is cancelled at the next heartbeat.

Shutdown (`stop`): stop claiming, let running commands finish within
``grace`` seconds, then cancel what is left and give it back (``PENDING``, no
attempt spent) so another worker takes it at once. `abort` does the same
without the grace period.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any, Protocol, runtime_checkable

from pgqueue.backoff import RetryPolicy
from pgqueue.completer import Completer
from pgqueue.execution import (
    Executions,
    FinishedInTransaction,
    Interrupted,
    Shutdown,
    Snoozed,
    Succeeded,
    TimedOut,
)
from pgqueue.lease_keeper import LeaseKeeper
from pgqueue.models import AlreadyClaimed, Claimed, Command, Failed, Pulled, RetryLater
from pgqueue.outcomes import ClaimedRow
from pgqueue.recording import Recorder, WorkerStats
from pgqueue.services import Loop, Service
from pgqueue.source import CommandSource
from pgqueue.tools import ToolContext, ToolFunction, ToolRegistry

logger = logging.getLogger(__name__)


@runtime_checkable
class LeasedSource(Protocol):
    """A source whose claims are leases the worker must keep and finish."""

    worker_id: str
    lease_for: timedelta
    completer: Completer
    #: rows claimed ahead that were dropped, not run, their lease gone
    dropped_ahead: int

    def serve(self, tool_kinds: Iterable[str]) -> None: ...
    def claim_of(self, handle: Any) -> ClaimedRow | None: ...
    def prefetched(self) -> list[Any]: ...
    def renewed(self, handles: Iterable[Any], since: float) -> None: ...
    def drop(self, handles: Iterable[Any]) -> None: ...
    async def stop_claiming(self) -> None: ...
    async def close(self) -> None: ...


class _Watchdog(Loop):
    name = "pgqueue-watchdog"

    def __init__(self, executions: Executions) -> None:
        super().__init__()
        self.executions = executions

    async def run(self) -> None:
        await self.executions.watchdog()


class Worker:
    """Runs commands from ``source`` through the tools registered for their kinds."""

    def __init__(
        self,
        source: CommandSource[Any],
        *,
        concurrency: int = 10,
        timeout: float | None = 600.0,
        heartbeat_interval: float | None = None,
        grace: float = 30.0,
        claim_backoff: RetryPolicy | None = None,
        worker_id: str | None = None,
        pool: Any = None,
        services: Iterable[Service] = (),
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be >= 1")
        self.source = source
        self.leased: LeasedSource | None = source if isinstance(source, LeasedSource) else None
        self.concurrency = concurrency
        self.grace = grace
        self.worker_id = worker_id or (self.leased.worker_id if self.leased else "worker")
        lease_seconds = self.leased.lease_for.total_seconds() if self.leased else 30.0
        self.heartbeat_interval = heartbeat_interval or max(lease_seconds / 3, 0.05)
        self.claim_backoff = claim_backoff or RetryPolicy(base=0.05, factor=2, cap=5, jitter=0.5)
        self.tools = ToolRegistry()
        self.stats = WorkerStats()
        completer = self.leased.completer if self.leased else None
        table = completer.gateway.table if completer is not None else None
        self.executions = Executions(
            self.tools,
            timeout=timeout,
            context=ToolContext(worker_id=self.worker_id, pool=pool, table=table),
        )
        if completer is not None:
            # a completion in a tool's own transaction (ctx.transaction()) writes
            # the reports the batched one would, and wakes the relay once committed
            self.executions.reports = completer.transactional
            self.executions.written = lambda count: completer.on_reports(count)
        self.recorder = Recorder(
            completer, self.stats, worker_id=self.worker_id, backlog=4 * concurrency
        )
        self._stopping = asyncio.Event()
        self._outage_since: float | None = None
        self._retry_streak = 0
        self.signals = 0
        self._background: set[asyncio.Task[None]] = set()
        #: duties started and stopped with the worker (a report relay, say): they
        #: stop after the last command's write, so what it wrote is still seen to
        self.services = list(services)
        #: told how many tools' progress values each heartbeat wrote (metrics)
        self.on_progress: Callable[[int], None] = lambda written: None

    # -- tools ----------------------------------------------------------------------

    def tool(
        self, kind: str, *, timeout: float | None = None
    ) -> Callable[[ToolFunction], ToolFunction]:
        """Decorator: ``@worker.tool("http")`` registers the function for that kind."""

        def register(function: ToolFunction) -> ToolFunction:
            self.register(kind, function, timeout=timeout)
            return function

        return register

    def register(self, kind: str, function: ToolFunction, *, timeout: float | None = None) -> None:
        self.tools.register(kind, function, timeout=timeout)

    # -- running --------------------------------------------------------------------

    def _services(self) -> list[Service]:
        services: list[Service] = [*self.services, _Watchdog(self.executions)]
        if self.leased is not None:
            services.append(
                LeaseKeeper(
                    self.leased.completer,
                    self.executions,
                    self.leased,
                    interval=self.heartbeat_interval,
                    worker_id=self.worker_id,
                    on_progress=lambda written: self.on_progress(written),
                )
            )
        return services

    async def run(self) -> WorkerStats:
        """Run until the source is drained or `stop` is called; returns the stats."""
        if self.leased is not None:
            # Claim only what this worker can run: a mixed fleet must not take
            # each other's commands.
            self.leased.serve(self.tools.kinds)
        logger.info(
            "worker %s started: %d slot(s), tools %s",
            self.worker_id,
            self.concurrency,
            ", ".join(self.tools.kinds) or "(none)",
            extra={"worker_id": self.worker_id, "action": "start"},
        )
        services = self._services()
        for service in services:
            service.start()
        slots = [asyncio.create_task(self._slot()) for _ in range(self.concurrency)]
        try:
            await asyncio.gather(*slots)
        finally:
            for slot in slots:
                slot.cancel()
            await asyncio.gather(*slots, return_exceptions=True)
            await self.recorder.drain()
            for service in services:
                await service.stop()
            if self.leased is not None:
                await self.leased.close()
                if self.leased.dropped_ahead:
                    self.stats.counts["dropped_ahead"] = self.leased.dropped_ahead
        logger.info(
            "worker %s stopped: %s",
            self.worker_id,
            ", ".join(f"{k} {v}" for k, v in sorted(self.stats.counts.items())) or "nothing done",
            extra={"worker_id": self.worker_id, "action": "stop"},
        )
        return self.stats

    async def _slot(self) -> None:
        task = asyncio.current_task()
        assert task is not None  # noqa: S101 - a slot is a task
        while not self._stopping.is_set():
            pulled = await self.source.next()
            if pulled is None:
                return
            if self._stopping.is_set() and isinstance(pulled.outcome, Claimed):
                # A claim that landed after the stop: give it back untouched
                # instead of starting it past the grace (it was never begun).
                await self.source.ack(pulled.ack)
                await self.recorder.interrupted(
                    pulled.outcome.command, self._claim(pulled.ack), Shutdown()
                )
                return
            await self._handle(pulled, task)

    def _claim(self, handle: Any) -> ClaimedRow | None:
        return self.leased.claim_of(handle) if self.leased is not None else None

    async def _handle(self, pulled: Pulled[Any], task: asyncio.Task[Any]) -> None:
        handle = pulled.ack
        match pulled.outcome:
            case Claimed(command=command):
                self._recovered()
                self.stats.add("claimed", command)
                await self.source.ack(handle)
                await self._execute(command, self._claim(handle), task)
            case AlreadyClaimed():
                self.stats.add("already_claimed")
                await self.source.ack(handle)
            case RetryLater(reason=reason):
                self.stats.add("retry_later")
                await self.source.nack(handle)
                await self._back_off(reason)
            case Failed(reason=reason):
                self._recovered()
                self.stats.add("claim_failed", self._claim(handle))
                claim = self._claim(handle)
                logger.warning(
                    "command %s cannot run: %s",
                    claim.command_id if claim else "?",
                    reason,
                    extra={
                        "worker_id": self.worker_id,
                        "command_id": claim.command_id if claim else None,
                        "action": "claim_failed",
                    },
                )
                if claim is None:
                    await self.source.nack(handle)  # holds no row: nothing to write
                else:
                    await self.recorder.settle(lambda: self.source.nack(handle), claim)

    async def _back_off(self, reason: str) -> None:
        """One log line per outage, not one per poll; exponential backoff meanwhile."""
        self._retry_streak += 1
        if self._outage_since is None:
            self._outage_since = time.monotonic()
            logger.warning(
                "cannot claim, retrying with backoff: %s",
                reason,
                extra={"worker_id": self.worker_id, "action": "claim_retry"},
            )
        delay = self.claim_backoff.delay(self._retry_streak).total_seconds()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=delay)

    def _recovered(self) -> None:
        if self._outage_since is not None:
            logger.warning(
                "claiming again after %.1fs",
                time.monotonic() - self._outage_since,
                extra={"worker_id": self.worker_id, "action": "claim_recovered"},
            )
        self._outage_since = None
        self._retry_streak = 0

    async def _execute(
        self, command: Command, claim: ClaimedRow | None, task: asyncio.Task[Any]
    ) -> None:
        """Run the command's tool in this slot's ``task`` and record how it ended."""
        if claim is not None and self.leased is not None and command.tool_kind in self.tools:
            self.leased.completer.mark_running_soon(claim)
        began = time.monotonic()
        ended = await self.executions.run(command, claim, task)
        took = time.monotonic() - began
        if isinstance(ended, Succeeded):
            await self.recorder.completed(command, claim, ended.result_json, took)
        elif isinstance(ended, Snoozed):
            await self.recorder.snoozed(command, claim, ended.delay)
        elif isinstance(ended, FinishedInTransaction):
            self.recorder.finished_in_transaction(command, ended.error, took)
        elif isinstance(ended, Interrupted):
            await self.recorder.interrupted(command, claim, ended.reason, in_thread=ended.in_thread)
        else:
            await self.recorder.failed(command, claim, ended.error, ended.terminal, took)

    # -- stopping -------------------------------------------------------------------

    @property
    def in_flight(self) -> int:
        return len(self.executions)

    @property
    def stopping(self) -> bool:
        """Whether `stop` (or `abort`) was called: no more claims."""
        return self._stopping.is_set()

    def stop(self) -> None:
        """Stop claiming; running commands get ``grace`` seconds, then are released."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        loop = asyncio.get_running_loop()
        # Every waiting next() returns None; the source itself (its heartbeat
        # connection among it) stays open until run() ends: leases of what runs
        # are kept through the grace.
        self._background.add(loop.create_task(self._stop_claiming()))
        self._background.add(loop.create_task(self._expire_grace(self.grace)))

    def abort(self) -> None:
        """Stop now: cancel running tools and release their commands."""
        if not self._stopping.is_set():
            self._stopping.set()
            self._background.add(asyncio.get_running_loop().create_task(self._stop_claiming()))
        self.executions.interrupt_all(Shutdown())

    async def _stop_claiming(self) -> None:
        if self.leased is not None:
            await self.leased.stop_claiming()

    async def _expire_grace(self, grace: float) -> None:
        deadline = time.monotonic() + grace
        while len(self.executions) and time.monotonic() < deadline:
            await asyncio.sleep(min(0.05, max(deadline - time.monotonic(), 0)))
        self.executions.interrupt_all(Shutdown())

    def install_signal_handlers(self) -> None:
        """SIGTERM/SIGINT: the first stops gracefully, the second aborts."""
        loop = asyncio.get_running_loop()

        def on_signal(signum: int) -> None:
            self.signals += 1
            name = signal.Signals(signum).name
            if self.signals == 1:
                logger.warning(
                    "%s: finishing %d running command(s) within %gs (again to stop now)",
                    name,
                    self.in_flight,
                    self.grace,
                    extra={"worker_id": self.worker_id, "action": "shutdown"},
                )
                self.stop()
            else:
                logger.warning(
                    "%s again: stopping now, releasing %d command(s)",
                    name,
                    self.in_flight,
                    extra={"worker_id": self.worker_id, "action": "abort"},
                )
                self.abort()

        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, on_signal, signum)


__all__ = ["LeasedSource", "TimedOut", "Worker", "WorkerStats"]

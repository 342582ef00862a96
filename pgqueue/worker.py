"""`Worker`: pull from a `CommandSource`, run each command's tool, record the result.

Per outcome it follows the seed's caller rules: `Claimed` → ack, then run;
`AlreadyClaimed` → ack; `RetryLater` → nack and back off; `Failed` → nack and
report. Up to ``concurrency`` commands run at once; each slot calls ``next()``
on its own, and `PgCommandSource` folds the concurrent calls into one claim.

With a source that holds leases (`PgCommandSource`), the worker also marks the
command ``RUNNING``, heartbeats every lease it holds in one statement, and
finishes with ``COMPLETED`` or a retry / ``FAILED``. All those writes are fenced
on the claim: a worker whose lease was lost gets `LeaseLost` and its tool is
cancelled. A cancelled command's tool is cancelled at the next heartbeat.

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
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol, TypeVar, runtime_checkable

from pgqueue import jsonvalues
from pgqueue.backoff import RetryPolicy
from pgqueue.batching import Notify
from pgqueue.errors import (
    CommandCancelled,
    DatabaseError,
    LeaseLost,
    PermanentFailure,
    PgQueueError,
)
from pgqueue.gateway import ClaimedRow, CommandKey
from pgqueue.models import AlreadyClaimed, Claimed, Command, Failed, Pulled, RetryLater
from pgqueue.source import CommandSource
from pgqueue.tools import Tool, ToolContext, ToolFunction

logger = logging.getLogger(__name__)

T = TypeVar("T")


@runtime_checkable
class LeasedSource(Protocol):
    """A source whose claims are leases the worker must keep and finish."""

    lease: timedelta
    tool_kinds: tuple[str, ...] | None

    def start_soon(self, lease: ClaimedRow) -> None: ...
    async def heartbeat(self, leases: Sequence[ClaimedRow]) -> dict[CommandKey, LeaseLost]: ...
    async def complete(self, lease: ClaimedRow, result_json: str) -> None: ...
    def complete_then(self, lease: ClaimedRow, result_json: str, notify: Notify) -> None: ...
    async def lost(self, lease: ClaimedRow) -> LeaseLost: ...
    async def retry_or_fail(
        self, lease: ClaimedRow, error: str, *, terminal: bool = False
    ) -> Any: ...
    async def release(self, leases: Sequence[ClaimedRow]) -> int: ...
    async def close(self) -> None: ...


class _Shutdown(PgQueueError):
    """The worker is shutting down."""


class _TimedOut(PgQueueError):
    """The tool ran past its timeout."""


@dataclass(eq=False, slots=True)
class _Running:
    command: Command
    lease: ClaimedRow | None
    #: the slot task running the tool (tools run inline: no task per command)
    task: asyncio.Task[Any]
    #: why the worker cancelled the tool, when it did
    stop_reason: PgQueueError | None = None
    #: loop time after which the watchdog interrupts the tool
    deadline: float | None = None
    #: True only while the tool itself runs: cancelling is aimed at the tool
    active: bool = True


@dataclass
class WorkerStats:
    """What a worker did, by outcome: completed, retried, failed, cancelled, lost,
    released, already_claimed, retry_later, claim_failed."""

    counts: Counter[str] = field(default_factory=Counter)
    started: float = field(default_factory=time.monotonic)

    def __getitem__(self, key: str) -> int:
        return self.counts[key]


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
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be >= 1")
        self.source = source
        self.concurrency = concurrency
        self.timeout = timeout
        self.grace = grace
        self.pool = pool
        self.worker_id = worker_id or str(getattr(source, "worker_id", "worker"))
        self.leased: LeasedSource | None = source if isinstance(source, LeasedSource) else None
        lease_seconds = self.leased.lease.total_seconds() if self.leased else 30.0
        self.heartbeat_interval = heartbeat_interval or max(lease_seconds / 3, 0.05)
        self.claim_backoff = claim_backoff or RetryPolicy(base=0.05, factor=2, cap=5, jitter=0.5)
        self.tools: dict[str, Tool] = {}
        self.stats = WorkerStats()
        self._running: dict[int, _Running] = {}
        self._stopping = asyncio.Event()
        self._outage_since: float | None = None
        self._retry_streak = 0
        self._signals = 0
        self._background: set[asyncio.Task[None]] = set()
        #: completions queued but not yet written (they are flushed in batches)
        self._unwritten = 0
        self._all_written = asyncio.Event()
        self._all_written.set()
        #: what a completion that was not written leads to (a retry, a report)
        self._follow_ups: set[asyncio.Task[None]] = set()
        self._backlog_high = 4 * concurrency
        self._backlog_ok = asyncio.Event()
        self._context = ToolContext(worker_id=self.worker_id, pool=self.pool)

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
        if not kind.strip():
            raise ValueError("a tool kind must not be blank")
        self.tools[kind] = Tool(kind, function, timeout)

    # -- running --------------------------------------------------------------------

    async def run(self) -> WorkerStats:
        """Run until the source is drained or `stop` is called; returns the stats."""
        if self.leased is not None and self.leased.tool_kinds is None:
            # Claim only what this worker can run: a mixed fleet must not take
            # each other's commands.
            self.leased.tool_kinds = tuple(sorted(self.tools))
        logger.info(
            "worker %s started: %d slot(s), tools %s",
            self.worker_id,
            self.concurrency,
            ", ".join(sorted(self.tools)) or "(none)",
            extra={"worker_id": self.worker_id, "action": "start"},
        )
        heartbeat = asyncio.create_task(self._heartbeat_loop()) if self.leased else None
        watchdog = asyncio.create_task(self._watchdog())
        slots = [asyncio.create_task(self._slot()) for _ in range(self.concurrency)]
        try:
            await asyncio.gather(*slots)
        finally:
            for slot in slots:
                slot.cancel()
            await asyncio.gather(*slots, return_exceptions=True)
            while self._unwritten or self._follow_ups:
                await self._all_written.wait()
                await asyncio.gather(*self._follow_ups, return_exceptions=True)
            for helper in (heartbeat, watchdog):
                if helper is not None:
                    helper.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await helper
            closer = getattr(self.source, "close", None)
            if closer is not None:
                await closer()
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
            await self._handle(pulled, task)

    async def _handle(self, pulled: Pulled[Any], task: asyncio.Task[Any]) -> None:
        handle = pulled.ack
        match pulled.outcome:
            case Claimed(command=command):
                self._recovered()
                await self.source.ack(handle)
                await self._execute(command, getattr(handle, "lease", None), task)
            case AlreadyClaimed():
                self.stats.counts["already_claimed"] += 1
                await self.source.ack(handle)
            case RetryLater(reason=reason):
                self.stats.counts["retry_later"] += 1
                await self.source.nack(handle)
                await self._back_off(reason)
            case Failed(reason=reason):
                self._recovered()
                self.stats.counts["claim_failed"] += 1
                lease = getattr(handle, "lease", None)
                logger.warning(
                    "command %s cannot run: %s",
                    lease.command_id if lease else "?",
                    reason,
                    extra={
                        "worker_id": self.worker_id,
                        "command_id": lease.command_id if lease else None,
                        "action": "claim_failed",
                    },
                )
                await self.source.nack(handle)

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

    # -- one command ----------------------------------------------------------------

    async def _execute(
        self, command: Command, lease: ClaimedRow | None, task: asyncio.Task[Any]
    ) -> None:
        """Run the command's tool in this slot's ``task`` and record the outcome."""
        tool = self.tools.get(command.tool_kind)
        if tool is None:
            await self._finish_failed(
                command, lease, f"no tool registered for kind {command.tool_kind!r}", True
            )
            return
        if lease is not None and self.leased is not None:
            self.leased.start_soon(lease)
        context = self._context
        timeout = tool.timeout if tool.timeout is not None else self.timeout
        # One watchdog enforces every timeout: no timer per command.
        deadline = None if timeout is None else asyncio.get_running_loop().time() + timeout
        running = _Running(command, lease, task, deadline=deadline)
        self._running[id(running)] = running
        try:
            result = await tool(command, context)
        except asyncio.CancelledError:
            running.active = False
            if running.stop_reason is None:
                raise  # the worker itself is being cancelled
            task.uncancel()
            if isinstance(running.stop_reason, _TimedOut):
                await self._finish_failed(command, lease, f"timed out after {timeout:g}s", False)
            else:
                await self._after_cancel(running)
            return
        except Exception as exc:
            running.active = False
            terminal = isinstance(exc, PermanentFailure)
            await self._finish_failed(command, lease, f"{type(exc).__name__}: {exc}", terminal)
            return
        finally:
            running.active = False
            self._running.pop(id(running), None)
        try:
            result_json = jsonvalues.dumps_checked(result)
        except (ValueError, TypeError) as exc:
            await self._finish_failed(command, lease, f"result is not JSON: {exc}", True)
            return
        await self._finish_completed(command, lease, result_json)

    def _extra(self, command: Command, action: str) -> dict[str, Any]:
        return {
            "worker_id": self.worker_id,
            "command_id": command.command_id,
            "execution_id": command.execution_id,
            "tool_kind": command.tool_kind,
            "action": action,
        }

    async def _finish_completed(
        self, command: Command, lease: ClaimedRow | None, result_json: str
    ) -> None:
        if lease is None or self.leased is None:
            self.stats.counts["completed"] += 1
            return
        # Queue the completion and move on: the slot claims its next command while
        # the batch of completions is written. Backpressure keeps the backlog of
        # unwritten completions bounded.
        self._track_completion(command, lease, result_json, attempt=1)
        if self._unwritten > self._backlog_high:
            # Over the bound: wait until the backlog is down to half, then every
            # waiting slot resumes at once (so the next claim is one big batch).
            self._backlog_ok.clear()
            await self._backlog_ok.wait()

    def _track_completion(
        self, command: Command, lease: ClaimedRow, result_json: str, *, attempt: int
    ) -> None:
        assert self.leased is not None  # noqa: S101 - only called with a leased source

        # Called from the batched flush: no future and no task switch per command.
        def done(written: bool, error: BaseException | None) -> None:
            self._unwritten -= 1
            if self._unwritten <= self._backlog_high // 2:
                self._backlog_ok.set()
            if not self._unwritten:
                self._all_written.set()
            if error is None and written:
                self.stats.counts["completed"] += 1
                return
            follow_up = self._completion_failed(command, lease, result_json, attempt, error)
            task = asyncio.get_running_loop().create_task(follow_up)
            self._follow_ups.add(task)
            task.add_done_callback(self._follow_ups.discard)

        self._unwritten += 1
        self._all_written.clear()
        self.leased.complete_then(lease, result_json, done)

    async def _completion_failed(
        self,
        command: Command,
        lease: ClaimedRow,
        result_json: str,
        attempt: int,
        error: BaseException | None,
    ) -> None:
        assert self.leased is not None  # noqa: S101
        if error is None:  # fenced: the claim is gone
            self._count_lost(await self.leased.lost(lease), command)
        elif isinstance(error, DatabaseError) and error.transient and attempt < 3:
            # The tool already ran; retry the write through a short blip rather
            # than let the command run again.
            await asyncio.sleep(0.2 * 3**attempt)
            self._track_completion(command, lease, result_json, attempt=attempt + 1)
        else:
            # Not recorded: the lease runs out and the command runs again
            # (at-least-once). Say so rather than pretend.
            logger.error(
                "could not record completion: %s", error, extra=self._extra(command, "complete")
            )
            self.stats.counts["unrecorded"] += 1

    async def _finish_failed(
        self,
        command: Command,
        lease: ClaimedRow | None,
        error: str,
        terminal: bool,
    ) -> None:
        if lease is None or self.leased is None:
            self.stats.counts["failed"] += 1
            logger.warning(
                "command %s failed: %s",
                command.command_id,
                error,
                extra=self._extra(command, "fail"),
            )
            return
        leased = self.leased
        try:
            result = await self._persist(
                lambda: leased.retry_or_fail(lease, error, terminal=terminal)
            )
        except LeaseLost as exc:
            self._count_lost(exc, command)
            return
        except DatabaseError as exc:
            logger.error("could not record failure: %s", exc, extra=self._extra(command, "fail"))
            self.stats.counts["unrecorded"] += 1
            return
        self.stats.counts["failed" if result.status == "FAILED" else "retried"] += 1

    async def _persist(self, write: Callable[[], Awaitable[T]]) -> T:
        """A fenced write, retried through a short database blip: the tool already
        ran, and an unrecorded result would make the command run again."""
        for attempt in range(1, 4):
            try:
                return await write()
            except DatabaseError as exc:
                if not exc.transient or attempt == 3:
                    raise
                await asyncio.sleep(0.2 * 3**attempt)
        raise AssertionError("unreachable")

    async def _after_cancel(self, running: _Running) -> None:
        reason = running.stop_reason
        command = running.command
        if isinstance(reason, CommandCancelled):
            self.stats.counts["cancelled"] += 1
            logger.info(
                "command %s cancelled", command.command_id, extra=self._extra(command, "cancelled")
            )
        elif isinstance(reason, LeaseLost):
            self._count_lost(reason, command)
        elif running.lease is not None and self.leased is not None:
            # Shutdown: give it back untouched so another worker takes it now.
            try:
                await self.leased.release([running.lease])
                self.stats.counts["released"] += 1
            except DatabaseError as exc:
                logger.warning(
                    "could not release on shutdown (the lease will end): %s",
                    exc,
                    extra=self._extra(command, "release"),
                )

    def _count_lost(self, exc: LeaseLost, command: Command) -> None:
        key = "cancelled" if isinstance(exc, CommandCancelled) else "lost"
        self.stats.counts[key] += 1
        logger.warning("%s", exc, extra=self._extra(command, key))

    # -- timeouts and heartbeats -------------------------------------------------------

    async def _watchdog(self) -> None:
        """Interrupt tools past their deadline; ticks at a tenth of the shortest
        timeout (between 10 ms and 1 s)."""
        timeouts = [t.timeout for t in self.tools.values() if t.timeout] + (
            [self.timeout] if self.timeout else []
        )
        if not timeouts:
            return
        tick = min(max(min(timeouts) / 10, 0.01), 1.0)
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(tick)
            now = loop.time()
            for running in list(self._running.values()):
                if running.deadline is not None and now >= running.deadline:
                    self._interrupt(running, _TimedOut())

    # -- heartbeats -----------------------------------------------------------------

    async def _heartbeat_loop(self) -> None:
        if self.leased is None:
            return
        while True:
            await asyncio.sleep(self.heartbeat_interval)
            running = [r for r in self._running.values() if r.lease is not None]
            if not running:
                continue
            try:
                lost = await self.leased.heartbeat([r.lease for r in running if r.lease])
            except DatabaseError as exc:
                logger.warning(
                    "heartbeat failed (will retry): %s",
                    exc,
                    extra={"worker_id": self.worker_id, "action": "heartbeat"},
                )
                continue
            for r in running:
                if r.lease is not None and r.lease.key in lost:
                    self._interrupt(r, lost[r.lease.key])

    # -- stopping -------------------------------------------------------------------

    @property
    def in_flight(self) -> int:
        return len(self._running)

    def stop(self) -> None:
        """Stop claiming; running commands get ``grace`` seconds, then are released."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        loop = asyncio.get_running_loop()
        # Closing the source makes every waiting next() return None.
        self._background.add(loop.create_task(self._close_source()))
        self._background.add(loop.create_task(self._expire_grace(self.grace)))

    def abort(self) -> None:
        """Stop now: cancel running tools and release their commands."""
        if not self._stopping.is_set():
            self._stopping.set()
            self._background.add(asyncio.get_running_loop().create_task(self._close_source()))
        self._cancel_running()

    async def _close_source(self) -> None:
        closer = getattr(self.source, "close", None)
        if closer is not None:
            await closer()

    async def _expire_grace(self, grace: float) -> None:
        deadline = time.monotonic() + grace
        while self._running and time.monotonic() < deadline:
            await asyncio.sleep(min(0.05, max(deadline - time.monotonic(), 0)))
        self._cancel_running()

    def _cancel_running(self) -> None:
        for running in list(self._running.values()):
            self._interrupt(running, _Shutdown())

    @staticmethod
    def _interrupt(running: _Running, reason: PgQueueError) -> None:
        """Cancel the tool (not the slot's bookkeeping around it)."""
        if running.active and running.stop_reason is None:
            running.stop_reason = reason
            running.task.cancel()

    def install_signal_handlers(self) -> None:
        """SIGTERM/SIGINT: the first stops gracefully, the second aborts."""
        loop = asyncio.get_running_loop()

        def on_signal(signum: int) -> None:
            self._signals += 1
            name = signal.Signals(signum).name
            if self._signals == 1:
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

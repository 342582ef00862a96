"""Running one command's tool: in its slot's task, under a timeout, interruptible.

A tool runs inline in the slot's task (no task per command). One watchdog
enforces every timeout (no timer per command). The worker interrupts a tool by
cancelling exactly the tool, never the slot's bookkeeping around it, and says
why (`Interrupted.reason`): a timeout, a lost lease, a cancel, a shutdown.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from pgqueue import jsonvalues, tracing
from pgqueue.errors import PermanentFailure, PgQueueError, Snooze
from pgqueue.models import Command
from pgqueue.outcomes import ClaimedRow
from pgqueue.tools import ToolContext, ToolRegistry
from pgqueue.tools.flight import IN_FLIGHT, InFlight


def no_reports(claim: ClaimedRow, result_json: str) -> Sequence[str]:
    return ()


def ignore(count: int) -> None:
    return None


class Shutdown(PgQueueError):
    """The worker is shutting down."""


class TimedOut(PgQueueError):
    """The tool ran past its timeout."""


@dataclass(eq=False, slots=True)
class Running(InFlight):
    """A command whose tool runs (an `InFlight`, as the tool sees it)."""

    #: the slot task running the tool (tools run inline: no task per command)
    task: asyncio.Task[Any] = field(kw_only=True)
    #: why the worker cancelled the tool, when it did
    stop_reason: PgQueueError | None = None
    #: loop time after which the watchdog interrupts the tool
    deadline: float | None = None
    #: True only while the tool itself runs: cancelling is aimed at the tool
    active: bool = True

    @property
    def leased(self) -> ClaimedRow | None:
        """The claim whose lease the worker keeps: none once the tool's own
        transaction finished the command."""
        return None if self.finished else self.claim


@dataclass(frozen=True, slots=True)
class Succeeded:
    result_json: str


@dataclass(frozen=True, slots=True)
class ToolFailed:
    error: str
    #: no retry can help (`PermanentFailure`, no tool, a result JSON cannot hold)
    terminal: bool


@dataclass(frozen=True, slots=True)
class Interrupted:
    """The worker stopped the tool: see ``reason`` (never `TimedOut`, a failure).
    ``in_thread``: a plain function's thread, which runs on regardless."""

    reason: PgQueueError
    in_thread: bool = False


@dataclass(frozen=True, slots=True)
class Snoozed:
    """The tool asked to run again after ``delay``, no attempt spent."""

    delay: timedelta


@dataclass(frozen=True, slots=True)
class FinishedInTransaction:
    """The tool's own transaction completed the command (``ctx.transaction()``):
    nothing more to write, whatever the tool did after it. ``error``: what the
    tool raised afterwards, if it did."""

    error: str | None = None


Ended = Succeeded | ToolFailed | Interrupted | FinishedInTransaction | Snoozed


class Executions:
    """The commands this worker is running, and how each one's tool is run."""

    def __init__(self, tools: ToolRegistry, *, timeout: float | None, context: ToolContext) -> None:
        self.tools = tools
        self.timeout = timeout
        self.context = context
        self._running: dict[int, Running] = {}
        #: what a completion in a tool's transaction writes besides the row, and
        #: who hears how many reports it committed (the worker's completer)
        self.reports: Callable[[ClaimedRow, str], Sequence[str]] = no_reports
        self.written: Callable[[int], None] = ignore

    def __len__(self) -> int:
        return len(self._running)

    def running(self) -> list[Running]:
        return list(self._running.values())

    async def run(
        self, command: Command, claim: ClaimedRow | None, task: asyncio.Task[Any]
    ) -> Ended:
        """Run the command's tool in the slot's ``task``; how it ended."""
        tool = self.tools.get(command.tool_kind)
        if tool is None:
            return ToolFailed(f"no tool registered for kind {command.tool_kind!r}", True)
        timeout = tool.timeout if tool.timeout is not None else self.timeout
        deadline = None if timeout is None else asyncio.get_running_loop().time() + timeout
        running = Running(command, claim, self.reports, self.written, task=task, deadline=deadline)
        self._running[id(running)] = running
        # for ctx.logger's fields and ctx.transaction()
        flying = IN_FLIGHT.set(running)
        meta = claim.meta if claim is not None else None
        try:
            with tracing.running(command.tool_kind, command.command_id, command.execution_id, meta):
                result = await tool(command, self.context)
        except asyncio.CancelledError:
            running.active = False
            if running.stop_reason is None:
                raise  # the worker itself is being cancelled
            task.uncancel()
            if running.finished:
                return FinishedInTransaction(f"stopped afterwards: {running.stop_reason}")
            if isinstance(running.stop_reason, TimedOut):
                return ToolFailed(f"timed out after {timeout:g}s", False)
            return Interrupted(running.stop_reason, in_thread=not tool.is_async)
        except Snooze as exc:
            if running.finished:
                return FinishedInTransaction(str(exc))
            return Snoozed(exc.delay)
        except Exception as exc:
            if running.finished:
                return FinishedInTransaction(f"{type(exc).__name__}: {exc}")
            return ToolFailed(f"{type(exc).__name__}: {exc}", isinstance(exc, PermanentFailure))
        finally:
            IN_FLIGHT.reset(flying)
            running.active = False
            self._running.pop(id(running), None)
        if running.finished:
            return FinishedInTransaction()
        try:
            return Succeeded(jsonvalues.dumps_checked(result))
        except (ValueError, TypeError) as exc:
            return ToolFailed(f"result is not JSON: {exc}", True)

    @staticmethod
    def interrupt(running: Running, reason: PgQueueError) -> None:
        """Cancel the tool (not the slot's bookkeeping around it)."""
        if running.active and running.stop_reason is None:
            running.stop_reason = reason
            running.task.cancel()

    def interrupt_all(self, reason: PgQueueError) -> None:
        for running in self.running():
            self.interrupt(running, reason)

    async def watchdog(self) -> None:
        """Interrupt tools past their deadline, until cancelled; ticks at a tenth of
        the shortest timeout (between 10 ms and 1 s)."""
        timeouts = self.tools.timeouts + ([self.timeout] if self.timeout else [])
        if not timeouts:
            return
        tick = min(max(min(timeouts) / 10, 0.01), 1.0)
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(tick)
            now = loop.time()
            for running in self.running():
                if running.deadline is not None and now >= running.deadline:
                    self.interrupt(running, TimedOut())

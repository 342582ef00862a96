"""`Recorder`: how each command ended, written through the `Completer` and counted.

A completion is queued and the slot moves on: its next claim overlaps the
batched write. Backpressure keeps the backlog of unwritten completions bounded
(four per slot; past that a slot waits until it is down to half). A write
that fails through a short database blip is tried again (`retrying`): the tool
already ran, and an unrecorded result would make the command run again. What
cannot be recorded is logged and counted as ``unrecorded``: the lease then
runs out and the command runs again (at-least-once).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from pgqueue.backoff import WRITE_RETRY, WRITE_TRIES, retrying
from pgqueue.completer import Completer, Completion
from pgqueue.errors import CommandCancelled, DatabaseError, LeaseLost, PgQueueError
from pgqueue.models import Command, log_id
from pgqueue.outcomes import ClaimedRow
from pgqueue.reporting import UnreportableResult
from pgqueue.states import Status

logger = logging.getLogger(__name__)

#: how long a command given back from an unstoppable thread waits before it is
#: due again: time for the stopping process to exit, taking the thread with it
THREAD_RELEASE_DELAY = timedelta(seconds=5)


#: told of each outcome counted: (outcome, the command or row, seconds its tool ran)
Listener = Callable[[str, "Command | ClaimedRow | None", "float | None"], None]


@dataclass
class WorkerStats:
    """What a worker did, by outcome: claimed, completed, retried, failed,
    cancelled, lost, released, already_claimed, retry_later, claim_failed,
    unrecorded. `listeners` (metrics, lifecycle logs) hear each one as counted."""

    counts: Counter[str] = field(default_factory=Counter)
    listeners: list[Listener] = field(default_factory=list)

    def __getitem__(self, key: str) -> int:
        return self.counts[key]

    def add(
        self,
        outcome: str,
        command: Command | ClaimedRow | None = None,
        duration: float | None = None,
    ) -> None:
        self.counts[outcome] += 1
        for listener in self.listeners:
            listener(outcome, command, duration)


class Recorder:
    """Records the end of each command a worker ran (``completer`` ``None``: a
    source without leases, whose outcomes are only counted)."""

    def __init__(
        self, completer: Completer | None, stats: WorkerStats, *, worker_id: str, backlog: int
    ) -> None:
        self.completer = completer
        self.stats = stats
        self.worker_id = worker_id
        self._backlog_high = backlog
        self._backlog_ok = asyncio.Event()
        #: completions queued but not yet written (they are flushed in batches)
        self._unwritten = 0
        self._all_written = asyncio.Event()
        self._all_written.set()
        #: what a completion that was not written leads to (a retry, a report)
        self._follow_ups: set[asyncio.Task[None]] = set()

    def log_fields(self, command: Command | ClaimedRow, action: str) -> dict[str, Any]:
        """The structured fields of a log line about ``command`` (or a held row)."""
        return {
            "worker_id": self.worker_id,
            "command_id": log_id(command.command_id),
            "execution_id": command.execution_id,
            "tool_kind": command.tool_kind,
            "action": action,
        }

    async def drain(self) -> None:
        """Wait until every completion is written or given up on."""
        while self._unwritten or self._follow_ups:
            await self._all_written.wait()
            await asyncio.gather(*self._follow_ups, return_exceptions=True)

    # -- completed ----------------------------------------------------------------------

    async def completed(
        self,
        command: Command,
        claim: ClaimedRow | None,
        result_json: str,
        duration: float | None = None,
    ) -> None:
        if claim is None or self.completer is None:
            self.stats.add("completed", command, duration)
            return
        try:
            completion = self.completer.completion(claim, result_json)
        except UnreportableResult as exc:
            # the control plane would refuse this report: fail instead, saying why
            await self.failed(command, claim, str(exc), terminal=True, duration=duration)
            return
        self._track(command, completion, attempt=1, duration=duration)
        if self._unwritten > self._backlog_high:
            # Over the bound: wait until the backlog is down to half, then every
            # waiting slot resumes at once (so the next claim is one big batch).
            self._backlog_ok.clear()
            await self._backlog_ok.wait()

    def _track(
        self, command: Command, completion: Completion, *, attempt: int, duration: float | None
    ) -> None:
        assert self.completer is not None  # noqa: S101 - only called with a completer

        # Called from the batched flush: no future and no task switch per command.
        def done(written: bool, error: BaseException | None) -> None:
            self._unwritten -= 1
            if self._unwritten <= self._backlog_high // 2:
                self._backlog_ok.set()
            if not self._unwritten:
                self._all_written.set()
            if error is None and written:
                self.stats.add("completed", command, duration)
                return
            follow_up = self._not_written(command, completion, attempt, error, duration)
            task = asyncio.get_running_loop().create_task(follow_up)
            self._follow_ups.add(task)
            task.add_done_callback(self._follow_ups.discard)

        self._unwritten += 1
        self._all_written.clear()
        self.completer.complete_then(completion, done)

    async def _not_written(
        self,
        command: Command,
        completion: Completion,
        attempt: int,
        error: BaseException | None,
        duration: float | None,
    ) -> None:
        assert self.completer is not None  # noqa: S101
        claim = completion[0]
        if error is None:  # fenced: the claim is gone
            self.lost(await self.completer.lost(claim), command)
        elif isinstance(error, DatabaseError) and error.transient and attempt < WRITE_TRIES:
            # the same policy as every other write after the tool ran
            await asyncio.sleep(WRITE_RETRY.delay(attempt).total_seconds())
            self._track(command, completion, attempt=attempt + 1, duration=duration)
        else:
            logger.error(
                "could not record completion: %s", error, extra=self.log_fields(command, "complete")
            )
            self.stats.add("unrecorded", command)

    # -- failed -------------------------------------------------------------------------

    async def snoozed(self, command: Command, claim: ClaimedRow | None, delay: timedelta) -> None:
        """The tool asked to run again after ``delay``: PENDING until then, no
        attempt spent."""
        self.stats.add("snoozed", command)
        if claim is None or self.completer is None:
            return
        completer = self.completer
        await self.settle(lambda: completer.snooze(claim, delay), claim)

    def finished_in_transaction(self, command: Command, error: str | None, duration: float) -> None:
        """The tool's own transaction completed the command: nothing to write.
        What the tool raised afterwards is logged; the command is not run again."""
        self.stats.add("completed", command, duration)
        if error is not None:
            logger.warning(
                "the tool raised after its transaction completed the command (not run again): %s",
                error,
                extra=self.log_fields(command, "complete"),
            )

    async def failed(
        self,
        command: Command,
        claim: ClaimedRow | None,
        error: str,
        terminal: bool,
        duration: float | None = None,
    ) -> None:
        if claim is None or self.completer is None:
            self.stats.add("failed", command, duration)
            logger.warning(
                "command %s failed: %s",
                command.command_id,
                error,
                extra=self.log_fields(command, "fail"),
            )
            return
        completer = self.completer
        try:
            result = await retrying(
                lambda: completer.retry_or_fail(claim, error, terminal=terminal)
            )
        except LeaseLost as exc:
            self.lost(exc, command)
            return
        except DatabaseError as exc:
            logger.error(
                "could not record failure: %s", exc, extra=self.log_fields(command, "fail")
            )
            self.stats.add("unrecorded", command)
            return
        self.stats.add("failed" if result.status == Status.FAILED else "retried", command, duration)

    # -- settling a pull -----------------------------------------------------------------

    async def settle(self, write: Callable[[], Awaitable[object]], claim: ClaimedRow) -> None:
        """A source's ``nack`` (or ``ack``) of a held claim, through the same guarded
        path as every other write after a claim: retried through a blip, and a
        lost claim or a write that cannot be made is logged and counted, never
        raised into the worker's loop."""
        try:
            await retrying(write)
        except LeaseLost as exc:
            self.lost(exc, claim)
        except DatabaseError as exc:
            self.stats.add("unrecorded", claim)
            fields = self.log_fields(claim, "settle")
            logger.error("could not settle command %s: %s", claim.command_id, exc, extra=fields)

    # -- interrupted --------------------------------------------------------------------

    async def interrupted(
        self,
        command: Command,
        claim: ClaimedRow | None,
        reason: PgQueueError,
        *,
        in_thread: bool = False,
    ) -> None:
        """The worker stopped the tool: cancelled, lost, or given back on shutdown.

        A plain function's thread cannot be stopped: its command is given back
        not due before `THREAD_RELEASE_DELAY`, by when this stopping process,
        and the thread with it, is gone, so no other worker runs it meanwhile."""
        if isinstance(reason, LeaseLost):
            self.lost(reason, command)
            return
        if claim is None or self.completer is None:
            return
        delay = THREAD_RELEASE_DELAY if in_thread else timedelta(0)
        try:
            await self.completer.release([claim], delay=delay)
        except DatabaseError as exc:
            logger.warning(
                "could not release on shutdown (the lease will end): %s",
                exc,
                extra=self.log_fields(command, "release"),
            )
            return
        self.stats.add("released", command)
        if in_thread:
            self.stats.add("abandoned", command)
            logger.warning(
                "command %s: its tool is a plain function running in a thread, which cannot be "
                "stopped; given back, due again in %ds (the thread runs on until it returns "
                "or this process exits)",
                command.command_id,
                THREAD_RELEASE_DELAY.total_seconds(),
                extra=self.log_fields(command, "abandon"),
            )

    def lost(self, exc: LeaseLost, command: Command | ClaimedRow) -> None:
        """Count and log a claim found lost (or cancelled) by a write after it."""
        cancelled = isinstance(exc, CommandCancelled)
        key = "cancelled" if cancelled else "lost"
        self.stats.add(key, command)
        if cancelled:
            logger.info(
                "command %s cancelled",
                command.command_id,
                extra=self.log_fields(command, "cancelled"),
            )
        else:
            logger.warning("%s", exc, extra=self.log_fields(command, key))

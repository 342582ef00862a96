"""`PgCommandSource`: the `noetl.command` table as a `CommandSource`.

How a claim is held
-------------------
``next()`` and ``claim()`` commit the row as ``CLAIMED`` in the same statement
that finds it (worker id, ``claimed_at``, a lease and a fresh fencing token),
so no transaction stays open while the caller decides. ``ack`` of a `Claimed`
outcome therefore has nothing left to write: when it returns, the row is
durably this worker's. A process that dies between ``next()`` and ``ack``
loses nothing: the row becomes claimable again **when its lease ends**, and
the claim that rescues it counts the lost attempt.

Concurrent ``next()`` calls are coalesced: while one claim is in flight the
others wait for it, and the claim asks for as many rows as there are callers
waiting (up to ``max_batch``), so N idle worker slots cost one round trip.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import psycopg_pool

from pgqueue.backoff import RetryPolicy
from pgqueue.batching import Batcher, Notify
from pgqueue.errors import (
    CommandCancelled,
    DatabaseError,
    HandleAlreadySettled,
    LeaseLost,
    PgQueueError,
)
from pgqueue.gateway import ClaimedRow, CommandKey, Gateway, NackResult, QueueTable, TargetVerdict
from pgqueue.listener import Listener
from pgqueue.models import (
    AlreadyClaimed,
    Claimed,
    ClaimOutcome,
    Failed,
    Pulled,
    RetryLater,
    trusted_command,
)

logger = logging.getLogger(__name__)

_handle_numbers = itertools.count()


class _Retry:
    """Told to a waiting caller whose claim had no row left for it although the
    queue may hold more (the claim came back full): claim again."""


RETRY = _Retry()

UINT32_MAX = 2**32 - 1


@dataclass(eq=False, slots=True)
class PgHandle:
    """The ack handle of one pulled outcome. ``lease`` is the claim it holds, if any."""

    outcome: ClaimOutcome
    lease: ClaimedRow | None = None
    number: int = field(default_factory=_handle_numbers.__next__)
    settled: bool = False

    def __repr__(self) -> str:
        key = f" {self.lease.execution_id}/{self.lease.command_id}" if self.lease else ""
        return f"<PgHandle #{self.number} {type(self.outcome).__name__}{key}>"


KNOWN_STATES = frozenset({"PENDING", "CLAIMED", "RUNNING", "COMPLETED", "FAILED", "CANCELLED"})


def row_outcome(row: ClaimedRow) -> Claimed | Failed:
    """Turn a claimed row into a `Command`, or say why it cannot be one."""
    if row.previous_status not in KNOWN_STATES:
        return Failed(f"unknown status {row.previous_status!r}")
    if row.attempts < 0:
        return Failed(f"attempts is negative ({row.attempts})")
    if row.attempts >= row.max_attempts:
        return Failed(f"attempts exhausted ({row.attempts} of {row.max_attempts})")
    if row.attempts > UINT32_MAX:
        return Failed(f"attempts {row.attempts} does not fit in 32 bits")
    if not row.tool_kind:
        return Failed("no tool kind: tool_kind is empty")
    if not row.step_name:
        return Failed("no step: step_name is empty")
    context = {} if row.context is None else row.context
    if not isinstance(context, dict):
        kind = "an array" if isinstance(context, list) else f"a {type(context).__name__}"
        return Failed(f"context is {kind}, not a JSON object")
    render_context = context.get("render_context", {})
    if render_context is None:
        render_context = {}
    if not isinstance(render_context, dict):
        kind = (
            "an array" if isinstance(render_context, list) else f"a {type(render_context).__name__}"
        )
        return Failed(f"context.render_context is {kind}, not a JSON object")
    command_input = (
        {k: v for k, v in context.items() if k != "render_context"}
        if "render_context" in context
        else context
    )
    # The row came out of typed columns and jsonb, so it is valid by
    # construction; skipping re-validation keeps the hot path lean.
    return Claimed(
        trusted_command(
            command_id=str(row.command_id),
            execution_id=row.execution_id,
            step=row.step_name,
            tool_kind=row.tool_kind,
            input=command_input,
            render_context=render_context,
            attempts=row.attempts,
        )
    )


class PgCommandSource:
    """Claims commands from ``noetl.command`` with ``FOR UPDATE SKIP LOCKED``.

    :param pool: an open `psycopg_pool.AsyncConnectionPool`.
    :param worker_id: recorded on every row this source claims.
    :param tool_kinds: the tool kinds this worker can run; ``None`` for all.
    :param wait: when nothing is claimable, block until something is
        (``LISTEN/NOTIFY`` with a poll fallback) instead of returning ``None``.
    :param lease: how long a claim holds without a heartbeat.
    :param poll_interval: the longest an idle ``next()`` waits between claims.
    :param max_batch: the most rows one claim takes for coalesced callers.
    :param prefetch: read ahead: when a claim comes back full (the queue is busy),
        claim up to this many more rows in the background, beside the claim the
        callers wait on, so the next callers find them ready while this batch
        runs. Good for short tools; for long ones
        keep it 0, since read-ahead rows wait in memory (their lease running)
        instead of going to an idle worker. They go back untouched on ``close()``.
    :param retry_policy: the backoff after a nacked attempt.
    :param listen: set ``False`` where LISTEN cannot work (a transaction pooler).
    """

    #: seconds a batched RUNNING mark waits for companions (see `start_soon`)
    RUNNING_LINGER = 0.05

    def __init__(
        self,
        pool: psycopg_pool.AsyncConnectionPool[Any],
        *,
        worker_id: str,
        tool_kinds: Iterable[str] | None = None,
        wait: bool = True,
        lease: timedelta = timedelta(seconds=30),
        poll_interval: float = 1.0,
        max_batch: int = 100,
        prefetch: int = 0,
        retry_policy: RetryPolicy | None = None,
        table: QueueTable | None = None,
        listen: bool = True,
    ) -> None:
        if lease <= timedelta(0):
            raise ValueError("lease must be positive")
        if max_batch < 1:
            raise ValueError("max_batch must be >= 1")
        if prefetch < 0:
            raise ValueError("prefetch must be >= 0")
        self.gateway = Gateway(pool, table)
        self.worker_id = worker_id
        self.tool_kinds: tuple[str, ...] | None = (
            None if tool_kinds is None else tuple(sorted(set(tool_kinds)))
        )
        self.wait = wait
        self.lease = lease
        self.poll_interval = poll_interval
        self.max_batch = max_batch
        self.prefetch = prefetch
        self.retry_policy = retry_policy or RetryPolicy()
        self._ready: deque[Pulled[PgHandle]] = deque()
        self._demand = 0
        self._waiters: deque[asyncio.Future[Pulled[PgHandle] | _Retry | None]] = deque()
        self._not_claiming = asyncio.Event()
        self._not_claiming.set()
        self._reading_ahead: asyncio.Task[None] | None = None
        self._busy = False
        self._closed = asyncio.Event()
        self._listener: Listener | None = None
        # Completions of many commands go in one statement; so do RUNNING marks,
        # which wait RUNNING_LINGER first so a command that finishes sooner
        # skips that write (its started_at is then its claim time).
        self._completer: Batcher[tuple[ClaimedRow, str], CommandKey] = Batcher(
            self._flush_completions, key=lambda item: item[0].key, max_batch=1000
        )
        self._to_mark: dict[CommandKey, ClaimedRow] = {}
        self._marking: asyncio.Task[None] | None = None
        # LISTEN needs a session of its own, opened from the pool's settings; a
        # pool with a dynamic conninfo (a callable) polls instead.
        if listen and wait and isinstance(pool.conninfo, str):
            kwargs = pool.kwargs if isinstance(pool.kwargs, dict) else {}
            self._listener = Listener(pool.conninfo, self.gateway.table.channel, kwargs)

    # -- context manager ------------------------------------------------------------

    async def __aenter__(self) -> PgCommandSource:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    @property
    def notifications(self) -> int:
        """How many notifications woke this source (for diagnostics and tests)."""
        return self._listener.received if self._listener else 0

    async def close(self) -> None:
        """Stop pulling: waiting ``next()`` calls return ``None``, and rows claimed in
        a batch but never handed out go back to ``PENDING`` untouched."""
        self._closed.set()
        self._wake_waiters(None)
        if self._reading_ahead is not None:
            with contextlib.suppress(Exception):
                await self._reading_ahead
        await self._not_claiming.wait()
        unclaimed = [p.ack.lease for p in self._ready if p.ack.lease is not None]
        self._ready.clear()
        if unclaimed:
            try:
                await self.release(unclaimed)
            except DatabaseError as exc:
                logger.warning(
                    "could not release %d prefetched command(s); they return when their "
                    "lease ends: %s",
                    len(unclaimed),
                    exc,
                    extra={"worker_id": self.worker_id, "action": "release"},
                )
        if self._listener is not None:
            await self._listener.close()

    # -- pulling --------------------------------------------------------------------

    @property
    def waiting(self) -> int:
        """How many ``next()`` calls are waiting right now."""
        return self._demand

    async def next(self) -> Pulled[PgHandle] | None:
        """The next outcome of a scan claim; ``None`` when closed, or when nothing is
        claimable and ``wait`` is false. Database errors come back as `RetryLater`.

        Concurrent callers share claims: while one claim is in flight the others
        wait for it, and the claim takes one row for each caller waiting by then;
        the rows are handed to the callers all at once.
        """
        self._demand += 1
        try:
            if self.wait:
                await self._start_listening()
            while not self._closed.is_set():
                if self._ready:
                    pulled = self._ready.popleft()
                    if self.prefetch and len(self._ready) < self.prefetch // 2:
                        self._read_ahead()  # refill while these rows are worked on
                    return pulled
                if not self._not_claiming.is_set() or self._reading_ahead_busy():
                    # A claim is in flight: take a row from it, or hear that there
                    # was none for us. (With a read-ahead on its way, a claim for
                    # this caller alone would be a statement for a row or two.)
                    share: asyncio.Future[Pulled[PgHandle] | _Retry | None] = (
                        asyncio.get_running_loop().create_future()
                    )
                    self._waiters.append(share)
                    shared = await share
                    if isinstance(shared, _Retry):
                        continue
                    if shared is not None:
                        return shared
                    if self._closed.is_set():
                        return None
                    if self.wait:
                        continue  # park behind the next leader, who idles for all
                else:
                    mine = await self._lead_claim()
                    if mine is not None:
                        return mine
                if not self.wait:
                    if await self._read_ahead_landed():
                        continue  # a read-ahead beside the claim took the rows
                    return None
                await self._idle()
            return None
        finally:
            self._demand -= 1

    async def _read_ahead_landed(self) -> bool:
        """After an empty claim: wait for a read-ahead claim still on its way (it
        may hold the rows the claim skipped as locked); whether rows are ready."""
        reading = self._reading_ahead
        if reading is not None and not reading.done():
            await asyncio.wait([reading])  # not cancelled if this caller is
            return True
        return bool(self._ready)

    async def _lead_claim(self) -> Pulled[PgHandle] | None:
        """Claim for this caller and every caller that joins meanwhile; hand the
        rows out all at once.

        When nothing is claimable and the source waits, the leader keeps the lead
        while it idles: the other callers stay parked behind it, and one wake-up
        (a notification or the poll) serves them all, with no thundering herd.
        """
        self._not_claiming.clear()
        try:
            while True:
                mine, idle = await self._claim_round()
                if not idle:
                    return mine
                if await self._read_ahead_landed():
                    # A read-ahead beside this claim took the rows: serve from
                    # them, and let the callers parked behind look again.
                    self._wake_waiters(RETRY)
                    if self._ready:
                        return self._ready.popleft()
                    continue
                await self._idle()
                if self._closed.is_set():
                    self._wake_waiters(None)
                    return None
        except BaseException:
            self._wake_waiters(RETRY)  # someone else leads the next claim
            raise
        finally:
            self._not_claiming.set()

    async def _claim_round(self) -> tuple[Pulled[PgHandle] | None, bool]:
        """One claim and its hand-out; says whether the leader should idle."""
        if self._listener is not None:
            # Cleared before the claim: a notification that lands after this
            # point ends the idle wait, so none is lost.
            self._listener.event.clear()
        # Let every caller that is ready right now join first, so that one claim
        # serves them all.
        await asyncio.sleep(0)
        limit = min(len(self._waiters) + 1, self.max_batch)
        pulled = deque(await self._claim_batch(limit))
        if not pulled and self.wait and not self._closed.is_set():
            self._busy = False
            return None, True
        full = len(pulled) == limit
        mine = pulled.popleft() if pulled else None
        self._hand_out(pulled)
        failure = mine.outcome if mine is not None else None
        if not isinstance(failure, RetryLater):
            failure = None
        else:
            # The database failed: every waiting caller hears it, each with a
            # handle of its own, so none mistakes an outage for an empty queue.
            while self._waiters:
                share = self._waiters.popleft()
                if not share.done():
                    share.set_result(self._pulled(RetryLater(failure.reason)))
        self._busy = full and failure is None
        # Callers left without a row: claim again if this claim was full (more may
        # be there), else the queue has nothing claimable for them now.
        self._wake_waiters(RETRY if self._busy else None)
        if self._busy and self.prefetch:
            self._read_ahead()
        return mine, False

    def _read_ahead(self) -> None:
        # Only while the queue is busy (the last claim came back full).
        if not self._busy or self._closed.is_set() or len(self._ready) >= self.prefetch:
            return
        if self._reading_ahead is None or self._reading_ahead.done():
            self._reading_ahead = asyncio.create_task(self._read_ahead_claim())

    def _reading_ahead_busy(self) -> bool:
        return self._reading_ahead is not None and not self._reading_ahead.done()

    async def _read_ahead_claim(self) -> None:
        """Claim ahead, alongside the leader's claim rather than after it: with a
        busy queue one claim is then always on its way while the rows of the
        last one are worked on. Rows go to callers already waiting first, then
        into the ready queue (at most ``prefetch`` rows)."""
        try:
            while self._busy and not self._closed.is_set() and len(self._ready) < self.prefetch:
                limit = min(self.prefetch - len(self._ready), self.max_batch)
                pulled = deque(await self._claim_batch(limit))
                if pulled and isinstance(pulled[0].outcome, RetryLater):
                    # the database failed: the leader's own claim reports it
                    self._busy = False
                    return
                self._busy = len(pulled) == limit
                self._hand_out(pulled)
        finally:
            if self._not_claiming.is_set():
                # Callers that waited on this read-ahead and got no row look again
                # (and one of them leads the next claim).
                self._wake_waiters(RETRY)

    def _hand_out(self, pulled: deque[Pulled[PgHandle]]) -> None:
        """Claimed rows to the callers waiting, one each; the rest to the ready queue."""
        while pulled and self._waiters:
            share = self._waiters.popleft()
            if not share.done():
                share.set_result(pulled.popleft())
        self._ready.extend(pulled)

    def _wake_waiters(self, value: _Retry | None) -> None:
        while self._waiters:
            share = self._waiters.popleft()
            if not share.done():
                share.set_result(value)

    async def _start_listening(self) -> None:
        listener = self._listener
        if listener is None or listener.ready.is_set():
            return
        listener.start()
        # Listen before the first claim, so an enqueue between an empty claim and
        # the LISTEN cannot be missed; if the database is away, poll meanwhile.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(listener.ready.wait(), timeout=5)

    async def _idle(self) -> None:
        waiters = [asyncio.ensure_future(self._closed.wait())]
        if self._listener is not None:
            waiters.append(asyncio.ensure_future(self._listener.event.wait()))
        try:
            await asyncio.wait(
                waiters, timeout=self.poll_interval, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def _claim_batch(self, limit: int) -> list[Pulled[PgHandle]]:
        try:
            rows = await self.gateway.claim_batch(
                worker_id=self.worker_id, limit=limit, lease=self.lease, tool_kinds=self.tool_kinds
            )
        except DatabaseError as exc:
            return [self._pulled(RetryLater(str(exc)))]
        pulled = []
        for row in rows:
            outcome = row_outcome(row)
            pulled.append(Pulled(outcome, PgHandle(outcome, lease=row)))
        return pulled

    async def claim(
        self, command_id: int | str, execution_id: int | None = None
    ) -> Pulled[PgHandle]:
        """Claim one named command (for sources told *which* command to take).

        Giving ``execution_id`` narrows the look-up to one partition.
        """
        try:
            wanted = int(command_id)
        except (TypeError, ValueError):
            return self._pulled(
                Failed(f"UNRESOLVABLE: command id {command_id!r} is not an integer")
            )
        try:
            verdict = await self.gateway.claim_target(
                worker_id=self.worker_id,
                command_id=wanted,
                execution_id=execution_id,
                lease=self.lease,
                tool_kinds=self.tool_kinds,
            )
        except DatabaseError as exc:
            return self._pulled(RetryLater(str(exc)))
        if verdict.verdict == "taken" and verdict.row is not None:
            outcome = row_outcome(verdict.row)
            return Pulled(outcome, PgHandle(outcome, lease=verdict.row))
        return self._pulled(self._explain(wanted, execution_id, verdict))

    def _explain(
        self, command_id: int, execution_id: int | None, verdict: TargetVerdict
    ) -> ClaimOutcome:
        where = f"command {command_id}" + (f" of execution {execution_id}" if execution_id else "")
        if verdict.verdict == "missing":
            return Failed(f"UNRESOLVABLE: no {where}")
        if verdict.matches > 1:
            return Failed(f"UNRESOLVABLE: {where} exists in several executions; give execution_id")
        if verdict.verdict == "busy":
            return AlreadyClaimed()
        status = verdict.status
        if status in ("COMPLETED", "FAILED", "CANCELLED"):
            return AlreadyClaimed()
        if status in ("CLAIMED", "RUNNING"):
            if self.tool_kinds is not None and verdict.tool_kind not in self.tool_kinds:
                return RetryLater(f"{where} has tool kind {verdict.tool_kind!r}, not served here")
            return AlreadyClaimed()
        if status == "PENDING":
            if self.tool_kinds is not None and verdict.tool_kind not in self.tool_kinds:
                return RetryLater(f"{where} has tool kind {verdict.tool_kind!r}, not served here")
            due = verdict.due_at.isoformat() if verdict.due_at else "later"
            return RetryLater(f"{where} is not due until {due}")
        return Failed(f"{where} has unknown status {status!r}")

    @staticmethod
    def _pulled(outcome: ClaimOutcome) -> Pulled[PgHandle]:
        return Pulled(outcome, PgHandle(outcome))

    # -- settling -------------------------------------------------------------------

    async def ack(self, handle: PgHandle) -> None:
        """Commit the pull. A `Claimed` row is already durably this worker's; a held
        `Failed` row is released unchanged (nack it instead to park it)."""
        self._begin_settle(handle)
        if isinstance(handle.outcome, Failed) and handle.lease is not None:
            lease = handle.lease
            try:
                await self.gateway.release([(lease.execution_id, lease.command_id, lease.token)])
            except DatabaseError:
                handle.settled = False
                raise

    async def nack(self, handle: PgHandle, *, reason: str | None = None) -> NackResult | None:
        """Reject the pull. For `Claimed` and `Failed` the attempt is spent: the row
        is due again after a backoff, or parked ``FAILED`` when the outcome was
        `Failed` or no attempts remain. Other outcomes change no row."""
        self._begin_settle(handle)
        lease = handle.lease
        if lease is None:
            return None
        outcome = handle.outcome
        terminal = isinstance(outcome, Failed)
        error = (
            outcome.reason if isinstance(outcome, Failed) else (reason or "nacked by the worker")
        )
        try:
            result = await self.retry_or_fail(lease, error, terminal=terminal)
        except DatabaseError:
            handle.settled = False
            raise
        return result

    def _begin_settle(self, handle: PgHandle) -> None:
        if not isinstance(handle, PgHandle):
            raise TypeError(f"expected a PgHandle, got {type(handle).__name__}")
        if handle.settled:
            raise HandleAlreadySettled(f"{handle!r} was already acked or nacked")
        handle.settled = True

    # -- after the claim: the worker's fenced writes -----------------------------------

    async def _lost(self, lease: ClaimedRow) -> LeaseLost:
        state = await self.gateway.lease_state(lease)
        where = f"command {lease.command_id} of execution {lease.execution_id}"
        if state is None:
            return LeaseLost(f"{where} no longer exists")
        status, same_claim = state
        if status == "CANCELLED":
            return CommandCancelled(f"{where} was cancelled")
        if same_claim:
            return LeaseLost(f"{where} is {status}")
        return LeaseLost(f"lease on {where} was lost: it is {status} under another claim")

    async def start(self, lease: ClaimedRow) -> None:
        """Mark the command ``RUNNING``; raises `LeaseLost` if the claim is gone."""
        if lease.key not in await self.gateway.mark_running(
            [(lease.execution_id, lease.command_id, lease.token)]
        ):
            raise await self._lost(lease)

    def start_soon(self, lease: ClaimedRow) -> None:
        """Mark ``RUNNING`` in the next batched write (within `RUNNING_LINGER`), or
        not at all if the command finishes first. A lost claim is found by the
        next heartbeat, and every later write is fenced anyway."""
        self._to_mark[lease.key] = lease
        if self._marking is None or self._marking.done():
            self._marking = asyncio.create_task(self._mark_running())

    async def _mark_running(self) -> None:
        await asyncio.sleep(self.RUNNING_LINGER)
        while self._to_mark:
            batch = list(self._to_mark.values())[:1000]
            for lease in batch:
                del self._to_mark[lease.key]
            try:
                await self.gateway.mark_running(
                    (x.execution_id, x.command_id, x.token) for x in batch
                )
            except DatabaseError as exc:
                logger.warning(
                    "could not mark %d command(s) RUNNING: %s",
                    len(batch),
                    exc,
                    extra={"worker_id": self.worker_id, "action": "mark_running"},
                )

    async def _flush_completions(self, items: Sequence[tuple[ClaimedRow, str]]) -> set[CommandKey]:
        return await self.gateway.complete(
            (lease.execution_id, lease.command_id, lease.token, result) for lease, result in items
        )

    async def heartbeat(self, leases: Sequence[ClaimedRow]) -> dict[CommandKey, LeaseLost]:
        """Extend every lease in one statement; returns the ones that were lost."""
        held = await self.gateway.heartbeat(
            ((x.execution_id, x.command_id, x.token) for x in leases), lease=self.lease
        )
        return {x.key: await self._lost(x) for x in leases if x.key not in held}

    async def complete(self, lease: ClaimedRow, result_json: str) -> None:
        """Finish the command with its result (already serialised JSON), in one
        statement with every other completion submitted meanwhile."""
        if not await self.complete_soon(lease, result_json):
            raise await self._lost(lease)

    def complete_soon(self, lease: ClaimedRow, result_json: str) -> asyncio.Future[bool]:
        """Queue the completion; the future says whether it was written (``False``:
        the lease was lost, see `lost`). Lets the caller claim its next command
        while the completions are flushed."""
        self._to_mark.pop(lease.key, None)
        return self._completer.submit_nowait((lease, result_json))

    def complete_then(self, lease: ClaimedRow, result_json: str, notify: Notify) -> None:
        """`complete_soon` with a callback instead of a future: ``notify(written,
        error)`` is called from the flush, with no task switch per command."""
        self._to_mark.pop(lease.key, None)
        self._completer.submit((lease, result_json), notify)

    async def lost(self, lease: ClaimedRow) -> LeaseLost:
        """Why a fenced write on ``lease`` found nothing: cancelled, or claimed again."""
        return await self._lost(lease)

    async def retry_or_fail(
        self, lease: ClaimedRow, error: str, *, terminal: bool = False
    ) -> NackResult:
        """Spend the attempt: due again after a backoff, or ``FAILED`` when terminal or
        out of attempts. Raises `LeaseLost` if the claim is gone."""
        self._to_mark.pop(lease.key, None)
        result = await self.gateway.nack(
            lease,
            delay=self.retry_policy.delay(lease.attempts + 1),
            terminal=terminal,
            error=error,
        )
        if result is None:
            raise await self._lost(lease)
        logger.info(
            "command %s %s after attempt %d: %s",
            lease.command_id,
            "parked as FAILED" if result.status == "FAILED" else "due again",
            result.attempts,
            error,
            extra={
                "command_id": lease.command_id,
                "execution_id": lease.execution_id,
                "action": "nack",
                "status": result.status,
            },
        )
        return result

    async def release(self, leases: Sequence[ClaimedRow]) -> int:
        """Give claims back without spending an attempt (graceful shutdown)."""
        for lease in leases:
            self._to_mark.pop(lease.key, None)
        return await self.gateway.release((x.execution_id, x.command_id, x.token) for x in leases)


__all__ = ["PgCommandSource", "PgHandle", "PgQueueError", "row_outcome"]

"""`Completer`: every write after a claim, through one fence and one batcher.

Once a row is claimed, only this module writes it: the ``RUNNING`` mark, the
lease heartbeat, the completion, retry-or-fail, and the release of a claim
given back. Each statement is fenced on the claim (``db/sql/part_fence.sql``:
key, claim token, still leased), so a worker whose lease was lost and whose row
was claimed again writes nothing; `lost` then says why, as a `LeaseLost`.

Completions and ``RUNNING`` marks of many commands go in one statement each,
through one kind of `Batcher`. A mark waits `RUNNING_LINGER` first, so a
command that finishes sooner skips that write (its ``started_at`` is then its
claim time).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, timedelta

from pgqueue.backoff import RetryPolicy
from pgqueue.batching import Batcher, Notify
from pgqueue.db.gateway import Gateway
from pgqueue.db.wire import ClaimKey
from pgqueue.errors import CommandCancelled, DatabaseError, LeaseLost
from pgqueue.outcomes import ClaimedRow, CommandKey, NackResult
from pgqueue.reporting import Ending, Reporter, outbox_item
from pgqueue.states import LEASED, Status

logger = logging.getLogger(__name__)

#: the most rows one batched write names
MAX_BATCH = 1000


def _claim_keys(claims: Iterable[ClaimedRow]) -> Iterable[ClaimKey]:
    return ((c.execution_id, c.command_id, c.token) for c in claims)


@dataclass(slots=True)
class Beat:
    """What one heartbeat did."""

    held: set[CommandKey]
    lost: dict[CommandKey, LeaseLost] = field(default_factory=dict)
    #: still ours, but another transaction held the row: not extended this time
    skipped: list[ClaimedRow] = field(default_factory=list)


#: a completion to write: the claim, its result (JSON text), its reports (outbox items)
Completion = tuple[ClaimedRow, str, tuple[str, ...]]


def _nothing(written: int) -> None:
    pass


def _ignore(written: bool, error: BaseException | None) -> None:
    """A RUNNING mark's outcome: nothing to do (a lost claim is found by the next
    heartbeat, and every later write is fenced anyway)."""


class Completer:
    """The fenced writes of one worker's claims.

    :param lease_for: how long a heartbeat extends a lease.
    :param retry_policy: the backoff after a nacked attempt.
    :param reporter: what to report of each command (`pgqueue.reporting`): its
        reports go into the outbox in the same statement as the row's write.
    """

    #: seconds a batched RUNNING mark waits for companions (see `mark_running_soon`)
    RUNNING_LINGER = 0.05

    def __init__(
        self,
        gateway: Gateway,
        *,
        worker_id: str,
        lease_for: timedelta,
        retry_policy: RetryPolicy,
        heartbeats: Gateway | None = None,
        reporter: Reporter | None = None,
    ) -> None:
        self.gateway = gateway
        self.reporter = reporter
        #: a relay's `poke`: called with how many reports a write carried once
        #: it is committed, never before (a relay woken before the commit finds
        #: nothing and idles: every report then waited out its idle poll)
        self.on_reports: Callable[[int], None] = _nothing
        #: a relay's `count` and `committed`: the reports of a completion,
        #: counted against the backlog bound as soon as the command finished (so
        #: claims stop in time), then once its batched write is over, written or
        #: not (so the relay wakes, and a failed write counts no more)
        self.on_pending: Callable[[int], None] = _nothing
        self.on_committed: Callable[[int], None] = _nothing
        #: callers of `pgqueue.wait` are known to wait: each completion is
        #: followed by a look that wakes those whose command finished
        self.waiters: bool = False
        self._wakes: set[asyncio.Task[None]] = set()
        #: where heartbeats run: a connection of their own (see `PgCommandSource`)
        self.heartbeats = heartbeats or gateway
        self.worker_id = worker_id
        self.lease_for = lease_for
        self.retry_policy = retry_policy
        self._marks: Batcher[ClaimedRow, CommandKey] = Batcher(
            self._flush_marks,
            key=lambda claim: claim.key,
            max_batch=MAX_BATCH,
            linger=self.RUNNING_LINGER,
        )
        self._completions: Batcher[Completion, CommandKey] = Batcher(
            self._flush_completions, key=lambda item: item[0].key, max_batch=MAX_BATCH
        )

    async def drain(self) -> None:
        """Wait until every mark and completion submitted so far is written."""
        await self._completions.drain()
        await self._marks.drain()

    # -- RUNNING ----------------------------------------------------------------------

    def mark_running_soon(self, claim: ClaimedRow) -> None:
        """Mark ``RUNNING`` in the next batched write (within `RUNNING_LINGER`), or
        not at all if the command finishes first."""
        self._marks.submit(claim, _ignore)

    async def _flush_marks(self, claims: Sequence[ClaimedRow]) -> set[CommandKey]:
        reports = [r for claim in claims for r in self._start(claim)]
        try:
            marked = await self.gateway.mark_running(_claim_keys(claims), reports)
            if reports:
                self.on_reports(len(reports))
            return marked
        except DatabaseError as exc:
            logger.warning(
                "could not mark %d command(s) RUNNING: %s",
                len(claims),
                exc,
                extra={"worker_id": self.worker_id, "action": "mark_running"},
            )
            return set()

    # -- reports --------------------------------------------------------------------

    def _start(self, claim: ClaimedRow) -> tuple[str, ...]:
        report = self.reporter.started(claim, self.worker_id) if self.reporter else None
        return () if report is None else (outbox_item(claim, "started", report),)

    def _reports(self, claim: ClaimedRow, ending: Ending) -> tuple[str, ...]:
        """The outbox items an ending writes: the start (kept as it was if the
        RUNNING mark wrote it already) and the ending's own report. May raise
        `UnreportableResult`."""
        if self.reporter is None:
            return ()
        report = self.reporter.ended(claim, ending, self.worker_id)
        if report is None:
            return ()
        return (*self._start(claim), outbox_item(claim, "finished", report))

    # -- the lease --------------------------------------------------------------------

    async def heartbeat(
        self, claims: Sequence[ClaimedRow], progress: Mapping[CommandKey, str] | None = None
    ) -> Beat:
        """Extend every lease in one statement, on the heartbeat's own connection,
        writing the ``progress`` tools reported since the last beat (JSON, by
        key); which were extended, which were lost, and which were skipped
        because another transaction holds their row (still ours: tried at the
        next beat)."""
        await self._open_heartbeats()
        held = await self.heartbeats.heartbeat(
            _claim_keys(claims), lease_for=self.lease_for, progress=progress
        )
        beat = Beat(held=held)
        for claim in claims:
            if claim.key in held:
                continue
            state = await self.heartbeats.lease_state(claim)
            if state is not None and state[1] and state[0] in LEASED:
                beat.skipped.append(claim)
            else:
                beat.lost[claim.key] = self._explain(claim, state)
        return beat

    async def _open_heartbeats(self) -> None:
        pool = self.heartbeats.pool
        if pool is not self.gateway.pool and pool.closed:
            await pool.open(wait=False)

    async def lost(self, claim: ClaimedRow) -> LeaseLost:
        """Why a fenced write on ``claim`` found nothing: cancelled, finished, or
        claimed again."""
        return self._explain(claim, await self.gateway.lease_state(claim))

    @staticmethod
    def _explain(claim: ClaimedRow, state: tuple[str, bool] | None) -> LeaseLost:
        where = f"command {claim.command_id} of execution {claim.execution_id}"
        if state is None:
            return LeaseLost(f"{where} no longer exists")
        status, same_claim = state
        if status == Status.CANCELLED:
            return CommandCancelled(f"{where} was cancelled")
        if same_claim:
            return LeaseLost(f"{where} is {status}")
        return LeaseLost(f"lease on {where} was lost: it is {status} under another claim")

    # -- the end of an attempt --------------------------------------------------------

    def completion(self, claim: ClaimedRow, result_json: str) -> Completion:
        """What `complete_then` writes: the claim, its result and its reports.
        Raises `UnreportableResult` when the reporter cannot report the result."""
        if self.reporter is None:
            return (claim, result_json, ())
        ending = Ending("COMPLETED", claim.attempts + 1, result_json=result_json)
        reports = self._reports(claim, ending)
        if reports:
            self.on_pending(len(reports))
        return (claim, result_json, reports)

    def transactional(self, claim: ClaimedRow, result_json: str) -> tuple[str, ...]:
        """The reports a completion in a tool's own transaction writes (the same
        as `completion`'s); its batched RUNNING mark is dropped: the row will
        be COMPLETED by then."""
        self._marks.discard(claim.key)
        if self.reporter is None:
            return ()
        ending = Ending("COMPLETED", claim.attempts + 1, result_json=result_json)
        return self._reports(claim, ending)

    def complete_then(self, completion: Completion, notify: Notify) -> None:
        """Queue the completion (from `completion`) for the next batched write;
        ``notify(written, error)`` is called from the flush, with no task switch
        per command (``written`` false: the claim was lost)."""
        self._marks.discard(completion[0].key)
        self._completions.submit(completion, notify)

    async def complete(self, claim: ClaimedRow, result_json: str) -> None:
        """Finish the command with its result, in one statement with every other
        completion submitted meanwhile; raises `LeaseLost` if the claim is gone
        (and `UnreportableResult` if the reporter cannot report the result)."""
        completion = self.completion(claim, result_json)
        self._marks.discard(claim.key)
        if not await self._completions.submit_nowait(completion):
            raise await self.lost(claim)

    async def _flush_completions(self, items: Sequence[Completion]) -> set[CommandKey]:
        reports = [report for *_, reports in items for report in reports]
        try:
            done, waiting = await self.gateway.complete(
                (
                    (claim.execution_id, claim.command_id, claim.token, result)
                    for claim, result, _ in items
                ),
                reports,
                wake=self.waiters,
            )
        finally:
            if reports:
                self.on_committed(len(reports))
        if waiting is not None:
            self.waiters = waiting > 0
        return done

    def heard_waiter(self) -> None:
        """A caller of `pgqueue.wait` says it waits (the listener heard it): wake
        it if its command is done, and wake waiters after each completion from
        now on."""
        task = asyncio.get_running_loop().create_task(self.wake_waiters())
        self._wakes.add(task)
        task.add_done_callback(self._wakes.discard)

    async def wake_waiters(self) -> None:
        """A caller of `pgqueue.wait` says it waits: wake the waiters whose
        command finished already, and follow each completion with that look
        until nobody waits."""
        self.waiters = True
        try:
            (waiting,) = await self.gateway.fetch("wake_waiters", None, role="completion")
        except DatabaseError as exc:
            logger.warning(
                "could not wake waiters (they look again within a second): %s",
                exc,
                extra={"worker_id": self.worker_id, "action": "wake_waiters"},
            )
            return
        self.waiters = self.waiters and int(waiting[0]) > 0

    async def snooze(self, claim: ClaimedRow, delay: timedelta) -> None:
        """PENDING again after ``delay``, its attempts as they were; `LeaseLost`
        if the claim is gone."""
        self._marks.discard(claim.key)
        key = {"execution_id": claim.execution_id, "command_id": claim.command_id}
        params = {**key, "token": claim.token, "delay": delay}
        if not await self.gateway.fetch("snooze", params, role="completion"):
            raise await self.lost(claim)

    async def retry_or_fail(
        self, claim: ClaimedRow, error: str, *, terminal: bool = False
    ) -> NackResult:
        """Spend the attempt: due again after a backoff, or ``FAILED`` when terminal or
        out of attempts. Raises `LeaseLost` if the claim is gone."""
        self._marks.discard(claim.key)
        # what the nack decides, known here too: the fence holds the row as claimed
        final = terminal or claim.attempts + 1 >= claim.max_attempts
        ending = Ending("FAILED" if final else "RETRIED", claim.attempts + 1, error=error)
        reports = self._reports(claim, ending)
        result = await self.gateway.nack(
            claim,
            delay=self.retry_policy.delay(claim.attempts + 1),
            terminal=terminal,
            error=error,
            reports=reports,
        )
        if result is not None and reports:
            self.on_reports(len(reports))
        if result is None:
            raise await self.lost(claim)
        parked = result.status == Status.FAILED
        fields = {
            "command_id": claim.command_id,
            "execution_id": claim.execution_id,
            "action": "nack",
            "status": result.status,
            "attempt": result.attempts,
        }
        if parked:
            logger.info(
                "command %s parked as FAILED after attempt %d: %s",
                claim.command_id,
                result.attempts,
                error,
                extra=fields,
            )
        else:
            wait = (result.due_at - result.at).total_seconds()
            logger.info(
                "command %s failed attempt %d: %s; due again at %s (in %.1fs)",
                claim.command_id,
                result.attempts,
                error,
                result.due_at.astimezone(UTC).isoformat(timespec="milliseconds"),
                wait,
                extra={**fields, "due_at": result.due_at.isoformat()},
            )
        return result

    async def release(
        self, claims: Sequence[ClaimedRow], *, delay: timedelta = timedelta(0)
    ) -> int:
        """Give claims back without spending an attempt (shutdown, rows claimed
        ahead and never run, ack of a `Failed` outcome); due again at once, or
        after ``delay``."""
        for claim in claims:
            self._marks.discard(claim.key)
        return await self.gateway.release(_claim_keys(claims), delay=delay)

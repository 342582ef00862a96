"""Coalesced claims: many concurrent ``next()`` callers, one claim in flight.

While one claim is in flight the other callers wait for it, and the claim asks
for as many rows as there are callers waiting (up to ``max_batch``), so N idle
worker slots cost one round trip. When nothing is claimable, the caller that
led the claim keeps the lead while it idles (a notification, the poll, or
close ends the wait) and the others stay parked behind it: one wake-up serves
them all, with no thundering herd. While the queue is busy (a claim came back
full) a read-ahead claim runs beside the callers' own, so the next callers
find rows ready while this batch runs.

The claim itself is the caller's (`PgCommandSource` passes its batch claim):
this module only decides when to claim, for how many, and who gets what.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from typing import Generic, TypeVar

from pgqueue.listener import Listener
from pgqueue.models import Pulled, RetryLater

#: how long after a rate's window opens (by this host's clock) an idle caller
#: claims again: the database's clock decides, and a claim a moment early
#: finds the window still full
RATE_MARGIN = 0.005

H = TypeVar("H")


class _Retry:
    """Told to a waiting caller whose claim had no row left for it although the
    queue may hold more (the claim came back full): claim again."""


RETRY = _Retry()


class Coalescer(Generic[H]):
    """Shares claims among concurrent callers of `next`.

    :param claim: claims up to ``limit`` rows; a database failure comes back as
        one `RetryLater` outcome (never raised).
    :param failed: a handle-less `RetryLater` pull, one for each caller waiting
        when a claim fails (so none mistakes an outage for an empty queue).
    :param wait: when nothing is claimable, idle until something may be,
        instead of returning ``None``.
    :param listener: what wakes an idle caller besides the poll.
    :param due_soon: for a source that does not wait: seconds until a row falls
        due soon enough to wait for (``None``: none does, the source is drained).
    :param next_start: when (`time.monotonic`) a rate that held the last claim
        back lets a command start again (``None``: no rate does): an idle
        caller wakes then rather than at the poll.
    """

    def __init__(
        self,
        claim: Callable[[int], Awaitable[list[Pulled[H]]]],
        failed: Callable[[str], Pulled[H]],
        *,
        wait: bool,
        max_batch: int,
        prefetch: int,
        poll_interval: float,
        listener: Listener | None,
        fresh: Callable[[Pulled[H]], bool] | None = None,
        due_soon: Callable[[], Awaitable[float | None]] | None = None,
        next_start: Callable[[], float | None] | None = None,
    ) -> None:
        self._claim_batch = claim
        self._due_soon = due_soon
        #: calls of `next` so far: a look at what falls due soon serves only the
        #: callers that were in `next` before it began (see `_soon`)
        self._calls = 0
        #: the look `_soon` has under way, and `_calls` when it began
        self._looking: tuple[int, asyncio.Future[float | None]] | None = None
        self._next_start = next_start
        self._failed = failed
        #: whether a row claimed ahead may still be handed out (its lease holds)
        self._fresh = fresh
        self.wait = wait
        self.max_batch = max_batch
        self.prefetch = prefetch
        self.poll_interval = poll_interval
        self._listener = listener
        self._ready: deque[Pulled[H]] = deque()
        self._demand = 0
        self._waiters: deque[asyncio.Future[Pulled[H] | _Retry | None]] = deque()
        self._not_claiming = asyncio.Event()
        self._not_claiming.set()
        self._reading_ahead: asyncio.Task[None] | None = None
        self._busy = False
        self._closed = asyncio.Event()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    @property
    def ready(self) -> int:
        """Rows claimed ahead and not handed out yet (the read-ahead's depth)."""
        return len(self._ready)

    def _pop_fresh(self) -> Pulled[H] | None:
        """The first ready row whose lease still holds; the others are dropped
        (the check counts them): a row whose lease ended while it waited may
        already run elsewhere, and must never run here too."""
        while self._ready:
            pulled = self._ready.popleft()
            if self._fresh is None or self._fresh(pulled):
                return pulled
        return None

    def held(self) -> list[Pulled[H]]:
        """The rows claimed ahead and waiting (their leases need keeping too)."""
        return list(self._ready)

    def drop(self, pulled: Iterable[Pulled[H]]) -> int:
        """Forget rows claimed ahead whose lease was lost; how many there were."""
        gone = {id(p) for p in pulled}
        before = len(self._ready)
        self._ready = deque(p for p in self._ready if id(p) not in gone)
        return before - len(self._ready)

    async def close(self) -> list[Pulled[H]]:
        """Stop: waiting callers get ``None``; the rows claimed but never handed
        out are returned, for the caller to give back."""
        self._closed.set()
        self._wake_waiters(None)
        if self._reading_ahead is not None:
            with contextlib.suppress(Exception):
                await self._reading_ahead
        await self._not_claiming.wait()
        unclaimed = list(self._ready)
        self._ready.clear()
        return unclaimed

    @property
    def waiting(self) -> int:
        """How many ``next()`` calls are waiting right now."""
        return self._demand

    async def next(self) -> Pulled[H] | None:
        """The next outcome of a scan claim; ``None`` when closed, or when nothing is
        claimable and ``wait`` is false. Database errors come back as `RetryLater`.

        Concurrent callers share claims: while one claim is in flight the others
        wait for it, and the claim takes one row for each caller waiting by then;
        the rows are handed to the callers all at once.
        """
        self._demand += 1
        self._calls += 1
        call = self._calls
        try:
            if self.wait:
                self._listen()
            while not self._closed.is_set():
                if self._ready:
                    pulled = self._pop_fresh()
                    if self.prefetch and len(self._ready) < self.prefetch // 2:
                        self._read_ahead()  # refill while these rows are worked on
                    if pulled is not None:
                        return pulled
                    continue
                if not self._not_claiming.is_set() or self._reading_ahead_busy():
                    # A claim is in flight: take a row from it, or hear that there
                    # was none for us. (With a read-ahead on its way, a claim for
                    # this caller alone would be a statement for a row or two.)
                    share: asyncio.Future[Pulled[H] | _Retry | None] = (
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
                    soon = await self._soon(call)
                    if soon is not None and not self._closed.is_set():
                        # a retry due within the horizon: not drained yet
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(self._closed.wait(), soon + 0.01)
                        continue
                    if self._ready or self._reading_ahead_busy():
                        # a read-ahead began during the look and took the rows
                        # it could not see as due: they are this worker's now
                        continue
                    return None
                await self._idle()
            return None
        finally:
            self._demand -= 1

    async def _soon(self, call: int) -> float | None:
        """`due_soon`, asked once for the callers that find the queue dry at
        once (when it runs dry, every slot does: each asking on its own would be
        a statement per slot). ``call``: the caller's number among the calls of
        `next`. A caller joins a look only if it began after that call did: a
        look begun before could not see what the caller wrote before it called,
        such as the retry it just nacked (due in a moment)."""
        if self._due_soon is None:
            return None
        looking = self._looking
        if looking is None or looking[1].done() or looking[0] < call:
            looking = self._looking = (self._calls, asyncio.ensure_future(self._due_soon()))
        # one caller cancelled does not cancel the look the others wait on
        return await asyncio.shield(looking[1])

    async def _read_ahead_landed(self) -> bool:
        """After an empty claim: wait for a read-ahead claim still on its way (it
        may hold the rows the claim skipped as locked); whether rows are ready."""
        reading = self._reading_ahead
        if reading is not None and not reading.done():
            await asyncio.wait([reading])  # not cancelled if this caller is
            return True
        return bool(self._ready)

    async def _lead_claim(self) -> Pulled[H] | None:
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
                    ready = self._pop_fresh()
                    if ready is not None:
                        return ready
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

    async def _claim_round(self) -> tuple[Pulled[H] | None, bool]:
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
                    share.set_result(self._failed(failure.reason))
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

    def _hand_out(self, pulled: deque[Pulled[H]]) -> None:
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

    def _listen(self) -> None:
        """Start listening, in the background: a claim never waits for the
        listener (which may not connect for a long while: the role's connection
        limit, a pooler that drops LISTEN). Until it listens the poll covers;
        once it does, it wakes every idle caller once, so an enqueue made
        meanwhile is not missed."""
        if self._listener is not None:
            self._listener.start()

    def _rate_wait(self) -> float | None:
        """Seconds until a full rate lets a command start again, if one is full."""
        at = self._next_start() if self._next_start is not None else None
        return None if at is None else max(at - time.monotonic(), 0.0) + RATE_MARGIN

    async def _idle(self) -> None:
        waiters = [asyncio.ensure_future(self._closed.wait())]
        if self._listener is not None:
            waiters.append(asyncio.ensure_future(self._listener.event.wait()))
        rate = self._rate_wait()
        timeout = self.poll_interval if rate is None else min(rate, self.poll_interval)
        try:
            await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

"""`PgCommandSource`: the ``noetl.command`` table as a `CommandSource`.

How a claim is held (docs/design.md says more): ``next()`` and ``claim()``
commit the row as ``CLAIMED`` in the same statement that finds it (worker id,
``claimed_at``, a lease and a fresh fencing token), so no transaction stays
open while the caller decides. ``ack`` of a `Claimed` outcome therefore has
nothing left to write: when it returns, the row is durably this worker's. A
process that dies between ``next()`` and ``ack`` loses nothing: the row
becomes claimable again **when its lease ends**, and the claim that rescues it
counts the lost attempt.

Concurrent ``next()`` calls share claims (`pgqueue.coalescing`). Every write
after the claim, ``nack`` included, is the `Completer`'s (``source.completer``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any

import psycopg_pool

from pgqueue import jsonvalues
from pgqueue.backoff import RetryPolicy
from pgqueue.coalescing import Coalescer
from pgqueue.completer import Completer
from pgqueue.db.deadlines import DEFAULT_DEADLINES, Deadlines
from pgqueue.db.gateway import Gateway
from pgqueue.db.table import QueueTable
from pgqueue.draining import due_soon
from pgqueue.dsn import keepalives
from pgqueue.errors import DatabaseError, HandleAlreadySettled
from pgqueue.finished import FinishedExecutions
from pgqueue.handles import PgHandle
from pgqueue.lease_keeper import heartbeat_gateway
from pgqueue.listener import Listener
from pgqueue.models import ClaimOutcome, Failed, Pulled, RetryLater
from pgqueue.outcomes import ClaimedRow, NackResult, row_outcome, target_outcome
from pgqueue.reporting import Reporter

logger = logging.getLogger(__name__)


class PgCommandSource:
    """Claims commands from ``noetl.command`` with ``FOR UPDATE SKIP LOCKED``.

    :param pool: an open `psycopg_pool.AsyncConnectionPool`.
    :param worker_id: recorded on every row this source claims.
    :param tool_kinds: the tool kinds this worker can run; ``None`` for all (a
        `Worker` then narrows it to its tools, see `serve`).
    :param wait: when nothing is claimable, block until something is
        (``LISTEN/NOTIFY`` with a poll fallback) instead of returning ``None``.
    :param drain_within: with ``wait`` off, wait for a command due within this
        long (a retry in backoff) before ``next()`` says drained (`pgqueue.draining`).
    :param lease_for: how long a claim holds without a heartbeat.
    :param poll_interval: the longest an idle ``next()`` waits between claims.
    :param max_batch: the most rows one claim takes for coalesced callers.
    :param prefetch: read ahead: when a claim comes back full, claim up to this
        many more rows in the background for the next callers. Good for short
        tools; keep it 0 for long ones (read-ahead rows wait in memory, leased).
        They go back on ``close()``; one whose lease is all but over when a
        caller would get it is dropped (``dropped_ahead``), never handed out.
    :param retry_policy: the backoff after a nacked attempt.
    :param listen: set ``False`` where LISTEN cannot work (a transaction pooler
        that the pool goes through): idle claims then poll.
    :param listen_conninfo: where LISTEN connects instead of the pool's database
        (a direct connection to the server behind a transaction pooler).
    :param deadlines: each role of statement's server and client deadlines
        (`pgqueue.db.deadlines`); a heartbeat's never exceeds a third of the lease.
    :param reporter: what to report of each command (`pgqueue.reporting`).
    :param paused: asked before each claim: a reason not to claim now (a report
        backlog, `pgqueue.relay.Relay.paused`), which callers get as `RetryLater`.
    :param skip_finished: end the claimed commands of finished executions as
        ``CANCELLED`` instead of handing them out; ``None``: where the schema has
        NoETL's ``execution`` table (looked up at the first claim).
    """

    #: the part of a lease a row claimed ahead must have left to be handed out:
    #: time to mark it RUNNING and for the next heartbeat to land
    FRESH_MARGIN = 0.2

    def __init__(
        self,
        pool: psycopg_pool.AsyncConnectionPool[Any],
        *,
        worker_id: str,
        tool_kinds: Iterable[str] | None = None,
        wait: bool = True,
        lease_for: timedelta = timedelta(seconds=30),
        poll_interval: float = 1.0,
        max_batch: int = 100,
        prefetch: int = 0,
        retry_policy: RetryPolicy | None = None,
        table: QueueTable | None = None,
        listen: bool = True,
        listen_conninfo: str | None = None,
        deadlines: Deadlines = DEFAULT_DEADLINES,
        reporter: Reporter | None = None,
        paused: Callable[[], str | None] | None = None,
        skip_finished: bool | None = None,
        drain_within: timedelta | None = None,
    ) -> None:
        if lease_for <= timedelta(0):
            raise ValueError("lease_for must be positive")
        if max_batch < 1:
            raise ValueError("max_batch must be >= 1")
        if prefetch < 0:
            raise ValueError("prefetch must be >= 0")
        self.gateway = Gateway(pool, table, deadlines)
        self.worker_id = worker_id
        self._tool_kinds: tuple[str, ...] | None = (
            None if tool_kinds is None else tuple(sorted(set(tool_kinds)))
        )
        self.lease_for = lease_for
        kwargs = pool.kwargs if isinstance(pool.kwargs, dict) else {}
        self._heartbeat_pool, heartbeats = heartbeat_gateway(
            pool, self.gateway, lease_for=lease_for, deadlines=deadlines, worker_id=worker_id
        )
        self.completer = Completer(
            self.gateway,
            worker_id=worker_id,
            lease_for=lease_for,
            retry_policy=retry_policy or RetryPolicy(),
            heartbeats=heartbeats,
            reporter=reporter,
        )
        self._paused = paused
        self._finished = FinishedExecutions(self.gateway, worker_id, skip_finished)
        self._listener: Listener | None = None
        # LISTEN needs a session of its own, opened from the pool's settings (or
        # the direct conninfo given); a pool with a dynamic conninfo (a
        # callable) polls instead.
        listen_to = listen_conninfo or (pool.conninfo if isinstance(pool.conninfo, str) else None)
        if wait and listen_to is not None and (listen or listen_conninfo):
            self._listener = Listener(
                listen_to,
                self.gateway.table.channel,
                {**keepalives(listen_to, kwargs), **kwargs},
            )
            self._listener.on_waiting = self.completer.heard_waiter
        #: rows claimed ahead whose lease ended before a slot took them
        self.dropped_ahead = 0
        #: why the last scan claim failed (``None``: it ran), for readiness probes
        self.claim_error: str | None = None
        self._claims: Coalescer[PgHandle] = Coalescer(
            self._claim_batch,
            self._unheld,
            wait=wait,
            max_batch=max_batch,
            prefetch=prefetch,
            poll_interval=poll_interval,
            listener=self._listener,
            fresh=self._fresh,
            due_soon=due_soon(self.gateway, drain_within, lambda: self._tool_kinds)
            if drain_within is not None and not wait
            else None,
            next_start=lambda: self.gateway.mode.next_start,
        )

    @property
    def tool_kinds(self) -> tuple[str, ...] | None:
        """The tool kinds this source claims (``None``: every kind)."""
        return self._tool_kinds

    def serve(self, tool_kinds: Iterable[str]) -> None:
        """Claim only ``tool_kinds`` from now on, where the source was made for
        every kind: a worker says which kinds it can run, so a mixed fleet never
        takes each other's commands. A source made for given kinds keeps them."""
        if self._tool_kinds is None:
            self._tool_kinds = tuple(sorted(set(tool_kinds)))

    def prefetched(self) -> list[PgHandle]:
        """The handles of rows claimed ahead, waiting for a slot: their leases are
        heartbeated with the running ones."""
        return [p.ack for p in self._claims.held()]

    def renewed(self, handles: Iterable[PgHandle], since: float) -> None:
        """A heartbeat begun at loop time ``since`` extended these handles' leases."""
        until = since + self.lease_for.total_seconds()
        for handle in handles:
            handle.fresh_until = until

    def drop(self, handles: Iterable[PgHandle]) -> None:
        """Rows claimed ahead whose lease was lost: never hand them out."""
        wanted = {id(h) for h in handles}
        self.dropped_ahead += self._claims.drop(
            p for p in self._claims.held() if id(p.ack) in wanted
        )

    def _fresh(self, pulled: Pulled[PgHandle]) -> bool:
        handle = pulled.ack
        if handle.claim is None:
            return True
        left = handle.fresh_until - asyncio.get_running_loop().time()
        if left > self.FRESH_MARGIN * self.lease_for.total_seconds():
            return True
        self.dropped_ahead += 1
        logger.warning(
            "command %s was claimed ahead but its lease was all but over before a slot "
            "took it: dropped, not run (it comes back when the lease ends)",
            handle.claim.command_id,
            extra={
                "worker_id": self.worker_id,
                "command_id": handle.claim.command_id,
                "action": "drop_expired",
            },
        )
        return False

    @staticmethod
    def claim_of(handle: PgHandle) -> ClaimedRow | None:
        """The claimed row a handle holds (``None`` for an outcome that holds none)."""
        return handle.claim

    # -- context manager ------------------------------------------------------------

    async def __aenter__(self) -> PgCommandSource:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def closed(self) -> bool:
        return self._claims.closed

    @property
    def notifications(self) -> int:
        """How many notifications woke this source (for diagnostics and tests)."""
        return self._listener.received if self._listener else 0

    @property
    def waiting(self) -> int:
        """How many ``next()`` calls are waiting right now."""
        return self._claims.waiting

    async def stop_claiming(self) -> None:
        """Stop pulling: waiting ``next()`` calls return ``None``, and rows claimed in
        a batch but never handed out go back to ``PENDING`` untouched. What runs
        keeps its lease and its writes until `close`."""
        unclaimed = [p.ack.claim for p in await self._claims.close() if p.ack.claim is not None]
        if unclaimed:
            try:
                await self.completer.release(unclaimed)
            except DatabaseError as exc:
                logger.warning(
                    "could not release %d prefetched command(s); they return when their "
                    "lease ends: %s",
                    len(unclaimed),
                    exc,
                    extra={"worker_id": self.worker_id, "action": "release"},
                )

    async def close(self) -> None:
        """`stop_claiming`, then write what is pending and close the connections of
        its own (listener, heartbeats): the last step of a shutdown, once nothing
        runs that needs its lease kept."""
        await self.stop_claiming()
        await self.completer.drain()
        if self._listener is not None:
            await self._listener.close()
        if self._heartbeat_pool is not None:
            await self._heartbeat_pool.close()

    # -- pulling --------------------------------------------------------------------

    async def next(self) -> Pulled[PgHandle] | None:
        """The next outcome of a scan claim; ``None`` when closed, or when drained
        and ``wait`` is false. Database errors come back as `RetryLater`.
        Concurrent callers share claims (`pgqueue.coalescing`)."""
        return await self._claims.next()

    async def _claim_batch(self, limit: int) -> list[Pulled[PgHandle]]:
        reason = self._paused() if self._paused is not None else None
        if reason is not None:
            # as if nothing were claimable: idle until the next poll (the relay
            # logs the pause); a source that does not wait must not end on it
            return [] if self._claims.wait else [self._unheld(reason)]
        # the lease starts no earlier than the statement is sent
        until = asyncio.get_running_loop().time() + self.lease_for.total_seconds()
        try:
            await self._finished.look_up()
            rows = await self.gateway.claim_batch(
                worker_id=self.worker_id,
                limit=limit,
                lease_for=self.lease_for,
                tool_kinds=self._tool_kinds,
                ended=self._finished.ended,
            )
        except DatabaseError as exc:
            self.claim_error = str(exc)
            return [self._unheld(str(exc))]
        self.claim_error = None
        pulled = []
        for row in rows:
            outcome = row_outcome(row)
            pulled.append(Pulled(outcome, PgHandle(outcome, claim=row, fresh_until=until)))
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
            await self._finished.look_up()
            verdict = await self.gateway.claim_target(
                worker_id=self.worker_id,
                command_id=wanted,
                execution_id=execution_id,
                lease_for=self.lease_for,
                tool_kinds=self._tool_kinds,
                ended=self._finished.ended,
            )
        except DatabaseError as exc:
            return self._unheld(str(exc))
        outcome = target_outcome(verdict, wanted, execution_id, self._tool_kinds)
        return Pulled(outcome, PgHandle(outcome, claim=verdict.row))

    @staticmethod
    def _pulled(outcome: ClaimOutcome) -> Pulled[PgHandle]:
        return Pulled(outcome, PgHandle(outcome))

    @classmethod
    def _unheld(cls, reason: str) -> Pulled[PgHandle]:
        """The outcome of a claim the database failed: `RetryLater`, holding nothing."""
        return cls._pulled(RetryLater(reason))

    # -- settling -------------------------------------------------------------------

    async def ack(self, handle: PgHandle) -> None:
        """Commit the pull. A `Claimed` row is already durably this worker's; a held
        `Failed` row is released unchanged (nack it instead to park it)."""
        self._begin_settle(handle)
        if isinstance(handle.outcome, Failed) and handle.claim is not None:
            try:
                await self.completer.release([handle.claim])
            except DatabaseError:
                handle.settled = False
                raise

    async def nack(self, handle: PgHandle, *, reason: str | None = None) -> NackResult | None:
        """Reject the pull. For `Claimed` and `Failed` the attempt is spent: the row
        is due again after a backoff, or parked ``FAILED`` when the outcome was
        `Failed` or no attempts remain. Other outcomes change no row."""
        self._begin_settle(handle)
        claim = handle.claim
        if claim is None:
            return None
        outcome = handle.outcome
        terminal = isinstance(outcome, Failed)
        error = (
            outcome.reason if isinstance(outcome, Failed) else (reason or "nacked by the worker")
        )
        try:
            return await self.completer.retry_or_fail(claim, error, terminal=terminal)
        except DatabaseError:
            handle.settled = False
            raise

    def _begin_settle(self, handle: PgHandle) -> None:
        if not isinstance(handle, PgHandle):
            raise TypeError(f"expected a PgHandle, got {type(handle).__name__}")
        if handle.settled:
            raise HandleAlreadySettled(f"{handle!r} was already acked or nacked")
        handle.settled = True

    # -- finishing a claimed command (the pull model) -------------------------------------

    async def complete(self, handle: PgHandle, result: Any = None) -> None:
        """Record ``result`` (any JSON value) as the outcome of the acked `Claimed`
        command ``handle`` holds: the row becomes ``COMPLETED``. Raises `LeaseLost`
        if the claim is gone. (A `Worker` does this itself.)"""
        claim = self._held(handle)
        await self.completer.complete(claim, jsonvalues.dumps_checked(result))

    async def fail(self, handle: PgHandle, error: str, *, terminal: bool = False) -> NackResult:
        """Record that the acked `Claimed` command ``handle`` holds failed: due again
        after a backoff while attempts remain, else (or when ``terminal``)
        ``FAILED`` with ``error``. Raises `LeaseLost` if the claim is gone."""
        return await self.completer.retry_or_fail(self._held(handle), error, terminal=terminal)

    def _held(self, handle: PgHandle) -> ClaimedRow:
        if handle.claim is None or not handle.settled:
            raise ValueError(f"{handle!r} holds no acked claim to complete")
        return handle.claim


__all__ = ["PgCommandSource", "PgHandle"]

"""`Gateway`: the one place that runs pgqueue's statements on a pool.

The source, the writes after a claim, the worker, retention and the CLI all go
through it; `enqueue` runs its statements on the caller's own connection
through `pgqueue.db.plans`. Every psycopg error is translated on the way out
(`pgqueue.db.translate`), keeping its SQLSTATE and whether it is worth a retry.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import psycopg
import psycopg_pool
from psycopg.abc import Query
from psycopg.rows import dict_row

from pgqueue.db import ended as ended_rows
from pgqueue.db import statements
from pgqueue.db.claim_mode import ClaimMode
from pgqueue.db.deadlines import (
    DEFAULT_DEADLINES,
    Deadlines,
    Role,
    deadline,
    settings_statement,
)
from pgqueue.db.table import QueueTable
from pgqueue.db.translate import DRIVER_ERRORS, translate
from pgqueue.db.wire import (
    ClaimKey,
    JsonbArray,
    fenced_keys,
    use_binary_results,
    use_packed_arrays,
)
from pgqueue.outcomes import ClaimedRow, CommandKey, NackResult, TargetVerdict

logger = logging.getLogger(__name__)

_row = ClaimedRow._make


async def _drain(cursor: psycopg.AsyncCursor[Any]) -> list[tuple[Any, ...]]:
    """A side cursor's rows, and the cursor closed."""
    async with cursor:
        return await cursor.fetchall()


class Gateway:
    """Typed operations on the queue table over an async connection pool, each
    statement under the deadline of its role (`pgqueue.db.deadlines`)."""

    def __init__(
        self,
        pool: psycopg_pool.AsyncConnectionPool[Any],
        table: QueueTable | None = None,
        deadlines: Deadlines = DEFAULT_DEADLINES,
    ) -> None:
        self.pool = pool
        #: what the next scan claim runs, as the last one's lock said
        self.mode = ClaimMode()
        self.table = table or QueueTable()
        self.deadlines = deadlines
        #: told each statement's name and seconds (metrics), when set
        self.observe: Callable[[str, float], None] | None = None

    @asynccontextmanager
    async def _cursor(self) -> AsyncIterator[psycopg.AsyncCursor[Any]]:
        """A cursor whose every statement is its own transaction.

        Each of pgqueue's writes is one statement, so a transaction block around it
        would only add two round trips (``BEGIN``, ``COMMIT``) to every claim and
        completion. A connection from a pool that is not in autocommit mode is
        switched for the duration (a client-side flag) and switched back.
        """
        try:
            async with self.pool.connection(timeout=self.deadlines.claim.client_seconds) as conn:
                switched = not conn.autocommit
                if switched:
                    await conn.set_autocommit(True)
                try:
                    async with conn.cursor() as cur:
                        yield cur
                finally:
                    if switched and not conn.closed:
                        with contextlib.suppress(psycopg.Error):
                            await conn.set_autocommit(False)
        except DRIVER_ERRORS as exc:
            raise translate(exc) from exc

    async def fetch(
        self,
        name: str,
        params: dict[str, Any] | None,
        *,
        role: Role,
        packed: bool = False,
        binary: bool = False,
        literals: statements.Literals = (),
        hot: bool = False,
    ) -> list[tuple[Any, ...]]:
        """The rows of statement ``name`` (see `_run`)."""
        _, rows, _ = await self._run(
            name, params, role=role, packed=packed, binary=binary, literals=literals, hot=hot
        )
        return rows

    async def _run(
        self,
        name: str,
        params: dict[str, Any] | None,
        *,
        role: Role,
        packed: bool = False,
        binary: bool = False,
        literals: statements.Literals = (),
        hot: bool = False,
        lead: str | None = None,
        trails: Sequence[str] = (),
        presorted: bool = False,
    ) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[list[tuple[Any, ...]]]]:
        """Run statement ``name`` under the deadline of ``role``; ``lead`` and
        ``trails``: statements run before and after it in the same transaction
        (rendered with the same literals, without parameters); the lead's rows,
        the statement's, and each trail's; ``presorted``: see `limit_params`;
        ``packed``: its parameters include `wire` arrays; ``binary``: rows come
        back in binary (for claimed rows, see `wire`); ``literals``: values
        written into the statement (`statements.literals`); ``hot``: a
        statement of the claim and completion path, prepared on its first run
        rather than its sixth (each unprepared run is parsed and planned anew).
        psycopg prepares nothing on a connection whose ``prepare_threshold`` is
        ``None`` (how a transaction pooler's users turn preparing off), whatever
        ``prepare`` says; a test holds that."""
        limits = self.deadlines.of(role)
        began = time.monotonic()
        async with self._cursor() as cur:
            if packed:
                use_packed_arrays(cur)
            if binary:
                use_binary_results(cur)
            where = (self.table.schema, self.table.table)
            statement = statements.compiled(name, *where, literals)
            conn = cur.connection
            # the lead runs on the limits' cursor (its last result is the
            # lead's), each trail on one of its own
            trailers = [conn.cursor() for _ in trails]
            # the limits and the statement in one round trip and one implicit
            # transaction: the limits end with it
            async with deadline(conn, limits.client_seconds), conn.cursor() as setter:
                async with conn.pipeline():
                    settings = settings_statement(limits, role, presorted=presorted)
                    await setter.execute(settings, None, prepare=hot or None)
                    if lead is not None:
                        first = statements.compiled(lead, *where, literals)
                        await setter.execute(first, params, prepare=hot or None)
                    await cur.execute(statement, params, binary=binary, prepare=hot or None)
                    for trailer, trail in zip(trailers, trails, strict=True):
                        last = statements.compiled(trail, *where, literals)
                        await trailer.execute(last, None, prepare=hot or None)
                lead_rows = await setter.fetchall() if lead is not None else []
                rows = await cur.fetchall() if cur.description else []
                trail_rows = [await _drain(trailer) for trailer in trailers]
        if self.observe is not None:
            self.observe(name, time.monotonic() - began)
        return lead_rows, rows, trail_rows

    async def execute(
        self, query: Query, params: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Run ``query`` (a statement from `QueueTable.statement`, of pgqueue's or of
        an operator program's own); rows as dicts."""
        limits = self.deadlines.operator
        try:
            async with (
                self.pool.connection(timeout=limits.client_seconds) as conn,
                conn.cursor(row_factory=dict_row) as cur,
                deadline(conn, limits.client_seconds),
            ):
                async with conn.pipeline(), conn.cursor() as setter:
                    await setter.execute(settings_statement(limits))
                    await cur.execute(query, params)
                return await cur.fetchall() if cur.description else []
        except DRIVER_ERRORS as exc:
            raise translate(exc) from exc

    async def read(self, name: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Run the named read-only statement ``name`` (status reports); rows as dicts."""
        return await self.execute(self.table.statement(name), params)

    async def counts_by_status(self) -> dict[str, int]:
        """How many commands are in each state (a NULL status as ``(null)``)."""
        counts: dict[str, int] = {}
        for r in await self.read("status_counts"):
            counts[r["status"]] = counts.get(r["status"], 0) + int(r["commands"])
        return counts

    # -- claiming ---------------------------------------------------------------

    async def claim_batch(
        self,
        *,
        worker_id: str,
        limit: int,
        lease_for: timedelta,
        tool_kinds: Sequence[str] | None,
        ended: ended_rows.Tell | None = None,
    ) -> list[ClaimedRow]:
        """Up to ``limit`` rows; with ``ended``, those of ended executions are
        CANCELLED in the claim's transaction, left out, and told to it."""
        # every value a literal, none a parameter (see claim_batch.sql)
        # the plain claim, or the one that counts limits, fair or not:
        # whichever the database last said (claim_mode.py). A claim that
        # finds it was the wrong one took no pending row; when it took nothing
        # at all, the right one follows at once (else at the next claim)
        for _ in range(2):
            before = self.mode.which
            literals = statements.literals(
                any_kind=tool_kinds is None,
                fair=self.mode.fair,
                rated=self.mode.rated or None,
                lease=lease_for,
                limit=limit,
                tool_kinds=tuple(tool_kinds or ()),
                worker_id=worker_id,
            )
            lead = self.mode.lead
            trail = self.mode.trail  # once: a claim beside this one may change it
            trails = [trail] if trail is not None else []
            if ended is not None:
                trails.append(ended_rows.TRAIL)
            lock, rows, trailed = await self._run(
                self.mode.statement,
                None,
                role="claim",
                binary=True,
                literals=literals,
                hot=True,
                lead=lead,
                trails=trails,
                presorted=True,
            )
            after = trailed[0] if trail is not None else []
            if lead is not None:
                self.mode.learn(lock[0], after)
            elif self.mode.asks(len(rows)):
                said = await self.fetch("claim_mode", None, role="claim", hot=True)
                self.mode.learn(said[0], after)
            if self.mode.which == before or rows:
                break
        if ended is not None:
            rows = ended_rows.live(rows, trailed[-1], ended)
        return list(map(_row, rows))

    async def claim_target(
        self,
        *,
        worker_id: str,
        command_id: int,
        execution_id: int | None,
        lease_for: timedelta,
        tool_kinds: Sequence[str] | None,
        ended: ended_rows.Tell | None = None,
    ) -> TargetVerdict:
        # under the claim lock, as a scan claim: a limit's room is exact here
        # too; the lease a literal, as the trail of ``ended`` reads it
        _, rows, trailed = await self._run(
            "claim_target",
            {
                "worker_id": worker_id,
                "command_id": command_id,
                "execution_id": execution_id,
                "any_kind": tool_kinds is None,
                "tool_kinds": list(tool_kinds or ()),
            },
            role="claim",
            binary=True,
            literals=statements.literals(lease=lease_for),
            lead="claim_lock",
            trails=[ended_rows.TRAIL] if ended is not None else [],
        )
        verdict = TargetVerdict.from_rows(rows)
        return verdict if ended is None else ended_rows.verdict(verdict, trailed[-1], ended)

    # -- writes after the claim, all fenced on the claim token ---------------------

    async def nack(
        self,
        row: ClaimedRow,
        *,
        delay: timedelta,
        terminal: bool,
        error: str | None,
        reports: Sequence[str] = (),
    ) -> NackResult | None:
        params: dict[str, Any] = {
            "execution_id": row.execution_id,
            "command_id": row.command_id,
            "token": row.token,
            "delay": delay,
            "terminal": terminal,
            "error": error,
        }
        if reports:  # the outbox is named only by a nack that writes to it
            params["reports"] = JsonbArray(reports)
        name = "nack_reported" if reports else "nack"
        rows = await self.fetch(name, params, role="completion", packed=bool(reports))
        return NackResult(*rows[0]) if rows else None

    async def release(self, items: Iterable[ClaimKey], *, delay: timedelta = timedelta(0)) -> int:
        params = fenced_keys(items)
        if not params["tokens"]:
            return 0
        params["channel"] = self.table.channel
        params["delay"] = delay
        rows = await self.fetch("release", params, role="completion", packed=True)
        return int(rows[0][0])

    async def _fenced(
        self,
        name: str,
        params: dict[str, Any],
        role: Role = "completion",
        trail: str | None = None,
    ) -> tuple[set[CommandKey], list[tuple[Any, ...]]]:
        """A fenced batch write: the keys it wrote, and ``trail``'s rows."""
        if not params["tokens"]:
            return set(), []
        _, rows, trailed = await self._run(
            name, params, role=role, packed=True, hot=True, trails=[trail] if trail else []
        )
        keys = {(execution_id, command_id) for command_id, execution_id in rows}
        return keys, trailed[0] if trailed else []

    async def mark_running(
        self, items: Iterable[ClaimKey], reports: Sequence[str] = ()
    ) -> set[CommandKey]:
        """Mark RUNNING; ``reports`` (outbox items, see `pgqueue.reporting`) are
        written in the same statement for the rows marked."""
        params = fenced_keys(items)
        if not reports:
            return (await self._fenced("mark_running", params))[0]
        params["reports"] = JsonbArray(reports)
        return (await self._fenced("mark_running_reported", params))[0]

    async def heartbeat(
        self,
        items: Iterable[ClaimKey],
        *,
        lease_for: timedelta,
        progress: Mapping[CommandKey, str] | None = None,
    ) -> set[CommandKey]:
        """Extend the leases; ``progress``: JSON texts to write, by key."""
        keys = list(items)
        params = fenced_keys(keys)
        params["lease"] = lease_for
        said = progress or {}
        params["progress"] = [said.get((e, c)) for e, c, _ in keys]
        return (await self._fenced("heartbeat", params, "heartbeat"))[0]

    async def complete(
        self,
        items: Iterable[tuple[int, int, uuid.UUID, str]],
        reports: Sequence[str] = (),
        *,
        wake: bool = False,
    ) -> tuple[set[CommandKey], int | None]:
        """Finish each command with its result (JSON text); ``reports`` (outbox
        items) are written in the same statement for the rows finished. With
        ``wake`` (callers of `pgqueue.wait` are known), ``wake_waiters.sql``
        follows in the transaction: the keys finished, and how many wait still
        (``None`` without ``wake``)."""
        rows = list(items)
        params = fenced_keys(
            (execution_id, command_id, token) for execution_id, command_id, token, _ in rows
        )
        params["results"] = JsonbArray(result for *_, result in rows)
        if reports:
            params["reports"] = JsonbArray(reports)
        name = "complete_reported" if reports else "complete"
        keys, after = await self._fenced(name, params, trail="wake_waiters" if wake else None)
        return keys, int(after[0][0]) if after else None

    async def lease_state(self, row: ClaimedRow) -> tuple[str, bool] | None:
        """The row's status now and whether our claim still stands."""
        rows = await self.fetch(
            "lease_state",
            {"execution_id": row.execution_id, "command_id": row.command_id, "token": row.token},
            role="completion",
        )
        return (rows[0][0], bool(rows[0][1])) if rows else None

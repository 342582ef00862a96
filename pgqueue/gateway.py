"""The one place that talks to PostgreSQL.

The source, the worker, the CLI and `enqueue` all go through `Gateway` (or,
for `enqueue` on a caller's own connection, through its statement and
parameter builders). Every psycopg error is translated here into the pgqueue
hierarchy, keeping its SQLSTATE and whether it is worth a retry.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Hashable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import psycopg
import psycopg_pool
from psycopg import sql
from psycopg.abc import Query
from psycopg.rows import dict_row

from pgqueue import sql as statements
from pgqueue.errors import DatabaseError, DatabaseUnavailable, SchemaNotMigrated
from pgqueue.wire import Int8Array, JsonbArray, UuidArray, use_binary_results, use_packed_arrays

logger = logging.getLogger(__name__)

#: SQLSTATEs that mean "try again": serialization failure, deadlock, lock not
#: available, query cancelled (statement_timeout), admin shutdown, crash
#: shutdown, cannot connect now, too many connections.
TRANSIENT_SQLSTATES = frozenset(
    {"40001", "40P01", "55P03", "57014", "57P01", "57P02", "57P03", "53300", "53400"}
)

#: A command's identity: (execution_id, command_id), the table's primary key.
CommandKey = tuple[int, int]


@dataclass(frozen=True, slots=True)
class QueueTable:
    """Where the queue lives. Names reach SQL only through `psycopg.sql.Identifier`."""

    schema: str = "noetl"
    table: str = "command"

    @property
    def channel(self) -> str:
        """The LISTEN/NOTIFY channel the insert trigger notifies."""
        return f"pgqueue.{self.schema}.{self.table}"

    @property
    def identifier(self) -> sql.Identifier:
        return sql.Identifier(self.schema, self.table)

    def statement(self, name: str, **literals: Hashable) -> sql.Composed:
        """Statement ``name`` for this table, each value slot named in ``literals``
        (``limit=100``) written in as a literal, the others (and any given as
        ``None``, as ``limit=None`` always meant) left as parameters."""
        return statements.render(name, self.schema, self.table, statements.literals(**literals))


class ClaimedRow(NamedTuple):
    """A row as the claim committed it: what the source needs to build a `Command`
    and to fence every later write. A named tuple: made straight from the
    returned row, five times cheaper than a frozen dataclass, on the hot path."""

    execution_id: int
    command_id: int
    step_name: str | None
    tool_kind: str | None
    context: Any
    attempts: int
    max_attempts: int
    token: uuid.UUID
    #: the status the claim found (PENDING; CLAIMED/RUNNING for a rescue; or a stray)
    previous_status: str | None = "PENDING"

    @property
    def key(self) -> CommandKey:
        return (self.execution_id, self.command_id)


@dataclass(frozen=True, slots=True)
class TargetVerdict:
    """What a targeted claim found: ``taken`` (with the row), ``seen`` (locked by us
    but not claimable: see status, due_at), ``busy`` (locked by another), or
    ``missing`` (no such row)."""

    verdict: str
    row: ClaimedRow | None = None
    status: str | None = None
    due_at: datetime | None = None
    tool_kind: str | None = None
    matches: int = 0


@dataclass(frozen=True, slots=True)
class NackResult:
    status: str
    attempts: int
    due_at: datetime
    #: when the nack was written (the database's clock)
    at: datetime


def describe(exc: BaseException) -> str:
    """One line about a database error, without connection secrets."""
    if isinstance(exc, psycopg.Error):
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        state = f"{exc.sqlstate} " if exc.sqlstate else ""
        return f"{state}{type(exc).__name__}: {first}"
    return f"{type(exc).__name__}: {exc}"


def translate(exc: BaseException) -> DatabaseError:
    """Map a psycopg or pool error onto the pgqueue hierarchy."""
    message = describe(exc)
    if isinstance(exc, psycopg_pool.PoolTimeout):
        return DatabaseUnavailable(f"connection pool exhausted: {message}", transient=True)
    if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError) and (
        exc.sqlstate is None or exc.sqlstate.startswith("08")
    ):
        return DatabaseUnavailable(message, sqlstate=exc.sqlstate, transient=True)
    if isinstance(exc, psycopg.Error):
        if exc.sqlstate in ("42P01", "42703", "42883", "3F000"):
            return SchemaNotMigrated(f"{SchemaNotMigrated.__doc__} ({message})")
        transient = exc.sqlstate in TRANSIENT_SQLSTATES or exc.sqlstate is None
        return DatabaseError(message, sqlstate=exc.sqlstate, transient=transient)
    return DatabaseError(message)


def _keys(items: Iterable[tuple[int, int, uuid.UUID]]) -> dict[str, Any]:
    execution_ids: list[int] = []
    command_ids: list[int] = []
    tokens: list[uuid.UUID] = []
    for execution_id, command_id, token in items:
        execution_ids.append(execution_id)
        command_ids.append(command_id)
        tokens.append(token)
    return {
        "execution_ids": Int8Array(execution_ids),
        "command_ids": Int8Array(command_ids),
        "tokens": UuidArray(tokens),
    }


_row = ClaimedRow._make


class Gateway:
    """Typed operations on the queue table over an async connection pool."""

    def __init__(
        self, pool: psycopg_pool.AsyncConnectionPool[Any], table: QueueTable | None = None
    ) -> None:
        self.pool = pool
        self.table = table or QueueTable()
        #: statements rendered to bytes, per client encoding and literals: psycopg
        #: would render a `sql.Composed` again on every execution (about 15 µs)
        self._rendered: dict[tuple[str, str, statements.Literals], bytes] = {}

    @asynccontextmanager
    async def _cursor(self) -> AsyncIterator[psycopg.AsyncCursor[Any]]:
        """A cursor whose every statement is its own transaction.

        Each of pgqueue's writes is one statement, so a transaction block around it
        would only add two round trips (``BEGIN``, ``COMMIT``) to every claim and
        completion. A connection from a pool that is not in autocommit mode is
        switched for the duration (a client-side flag) and switched back.
        """
        try:
            async with self.pool.connection() as conn:
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
        except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
            raise translate(exc) from exc

    async def _fetch(
        self,
        name: str,
        params: dict[str, Any] | None,
        *,
        packed: bool = False,
        binary: bool = False,
        literals: statements.Literals = (),
        hot: bool = False,
    ) -> list[tuple[Any, ...]]:
        """Run statement ``name``; ``packed``: its parameters include `wire` arrays;
        ``binary``: rows come back in binary (for claimed rows, see `wire`);
        ``literals``: values written into the statement (`statements.literals`);
        ``hot``: a statement of the claim and completion path, prepared on its
        first run rather than its sixth (each unprepared run is parsed and
        planned anew). psycopg prepares nothing on a connection whose
        ``prepare_threshold`` is ``None`` (how a transaction pooler's users turn
        preparing off), whatever ``prepare`` says; a test holds that."""
        async with self._cursor() as cur:
            if packed:
                use_packed_arrays(cur)
            if binary:
                use_binary_results(cur)
            await cur.execute(
                self._statement(name, cur, literals), params, binary=binary, prepare=hot or None
            )
            return await cur.fetchall()

    def _statement(
        self, name: str, cur: psycopg.AsyncCursor[Any], literals: statements.Literals
    ) -> bytes:
        key = (name, cur.connection.info.encoding, literals)
        rendered = self._rendered.get(key)
        if rendered is None:
            statement = statements.render(name, self.table.schema, self.table.table, literals)
            rendered = self._rendered[key] = statement.as_bytes(cur)
        return rendered

    async def execute(
        self, query: Query, params: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Run an ad-hoc read (status reports); rows as dicts."""
        try:
            async with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
                await cur.execute(query, params)
                return await cur.fetchall() if cur.description else []
        except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
            raise translate(exc) from exc

    # -- claiming ---------------------------------------------------------------

    async def claim_batch(
        self, *, worker_id: str, limit: int, lease: timedelta, tool_kinds: Sequence[str] | None
    ) -> list[ClaimedRow]:
        # every value a literal, none a parameter (see claim_batch.sql)
        literals = statements.literals(
            any_kind=tool_kinds is None,
            lease=lease,
            limit=limit,
            tool_kinds=tuple(tool_kinds or ()),
            worker_id=worker_id,
        )
        rows = await self._fetch("claim_batch", None, binary=True, literals=literals, hot=True)
        return list(map(_row, rows))

    async def claim_target(
        self,
        *,
        worker_id: str,
        command_id: int,
        execution_id: int | None,
        lease: timedelta,
        tool_kinds: Sequence[str] | None,
    ) -> TargetVerdict:
        rows = await self._fetch(
            "claim_target",
            {
                "worker_id": worker_id,
                "command_id": command_id,
                "execution_id": execution_id,
                "lease": lease,
                "any_kind": tool_kinds is None,
                "tool_kinds": list(tool_kinds or ()),
            },
            binary=True,
        )
        if not rows:
            return TargetVerdict("missing")
        verdict = rows[0][0]
        if verdict == "taken":
            return TargetVerdict("taken", row=_row(rows[0][1:10]), matches=1)
        _, _, _, _, tool_kind, _, _, _, _, status, due_at = rows[0]
        return TargetVerdict(
            verdict,
            status=status,
            due_at=due_at,
            tool_kind=tool_kind,
            matches=len(rows),
        )

    # -- writes after the claim, all fenced on the claim token ---------------------

    async def nack(
        self, row: ClaimedRow, *, delay: timedelta, terminal: bool, error: str | None
    ) -> NackResult | None:
        rows = await self._fetch(
            "nack",
            {
                "execution_id": row.execution_id,
                "command_id": row.command_id,
                "token": row.token,
                "delay": delay,
                "terminal": terminal,
                "error": error,
            },
        )
        return NackResult(*rows[0]) if rows else None

    async def release(self, items: Iterable[tuple[int, int, uuid.UUID]]) -> int:
        params = _keys(items)
        if not params["tokens"]:
            return 0
        params["channel"] = self.table.channel
        rows = await self._fetch("release", params, packed=True)
        return int(rows[0][0])

    async def _fenced(self, name: str, params: dict[str, Any]) -> set[CommandKey]:
        if not params["tokens"]:
            return set()
        rows = await self._fetch(name, params, packed=True, hot=True)
        return {(execution_id, command_id) for command_id, execution_id in rows}

    async def mark_running(self, items: Iterable[tuple[int, int, uuid.UUID]]) -> set[CommandKey]:
        return await self._fenced("mark_running", _keys(items))

    async def heartbeat(
        self, items: Iterable[tuple[int, int, uuid.UUID]], *, lease: timedelta
    ) -> set[CommandKey]:
        params = _keys(items)
        params["lease"] = lease
        return await self._fenced("heartbeat", params)

    async def complete(self, items: Iterable[tuple[int, int, uuid.UUID, str]]) -> set[CommandKey]:
        rows = list(items)
        params = _keys(
            (execution_id, command_id, token) for execution_id, command_id, token, _ in rows
        )
        params["results"] = JsonbArray(result for *_, result in rows)
        return await self._fenced("complete", params)

    async def lease_state(self, row: ClaimedRow) -> tuple[str, bool] | None:
        """The row's status now and whether our claim still stands."""
        rows = await self._fetch(
            "lease_state",
            {"execution_id": row.execution_id, "command_id": row.command_id, "token": row.token},
        )
        return (rows[0][0], bool(rows[0][1])) if rows else None

    # -- operator verbs -------------------------------------------------------------

    async def cancel(
        self,
        command_ids: Sequence[int],
        *,
        execution_id: int | None = None,
        reason: str | None = None,
    ) -> list[CommandKey]:
        rows = await self._fetch(
            "cancel",
            {"command_ids": list(command_ids), "execution_id": execution_id, "reason": reason},
        )
        return [(r[0], r[1]) for r in rows]

    async def requeue(
        self,
        *,
        command_ids: Sequence[int] | None = None,
        execution_id: int | None = None,
        tool_kind: str | None = None,
        step: str | None = None,
    ) -> int:
        rows = await self._fetch(
            "requeue",
            {
                "command_ids": list(command_ids) if command_ids is not None else None,
                "execution_id": execution_id,
                "tool_kind": tool_kind,
                "step": step,
                "channel": self.table.channel,
            },
        )
        return int(rows[0][0])

    async def created_by_pgqueue(self) -> bool:
        """Whether pgqueue created the table (rather than NoETL's control plane)."""
        rows = await self.execute(
            self.table.statement("table_origin"),
            {"regclass": self.table.identifier.as_string(None)},
        )
        return bool(rows and rows[0]["comment"] == "created by pgqueue")

    async def can_delete(self) -> bool:
        rows = await self.execute(
            self.table.statement("can_delete"), {"regclass": self.table.identifier.as_string(None)}
        )
        return bool(rows and rows[0]["allowed"])

    async def prune(
        self, *, older_than: timedelta, statuses: Sequence[str], batch: int = 10_000
    ) -> int:
        """Delete finished rows older than the window, batch by batch."""
        total = 0
        while True:
            async with self._cursor() as cur:
                await cur.execute(
                    self.table.statement("prune"),
                    {"older_than": older_than, "statuses": list(statuses), "batch": batch},
                )
                deleted = cur.rowcount
            total += deleted
            if deleted < batch:
                return total

"""Identifiers for migrations, quoted by `psycopg.sql` and never by hand.

The schema comes from the alembic config (``-x schema=…`` or
``pgqueue migrate --schema``); the default is NoETL's ``noetl``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, LiteralString

from alembic import op
from psycopg import sql

DEFAULT_SCHEMA = "noetl"
TABLE = "command"
#: the reports a worker owes a control plane (migration 0008)
OUTBOX = "pgqueue_outbox"
#: flow control (migration 0011): limits by key, and paused tool kinds
LIMITS = "pgqueue_limit"
PAUSES = "pgqueue_pause"
#: rate limits (migration 0012): the recent starts of each rate-limited key
STARTS = "pgqueue_start"
#: the fleet's flow settings (migration 0012): fair share
SETTINGS = "pgqueue_setting"
#: periodic commands (migration 0013)
SCHEDULES = "pgqueue_schedule"
#: unique commands' keys (migration 0014)
UNIQUES = "pgqueue_unique"
#: pgqueue's alembic version table, in the queue's schema (never a host app's)
VERSION_TABLE = "pgqueue_alembic_version"
#: Marks objects pgqueue created, so a downgrade drops only those and never
#: NoETL's own table or function.
CREATED_BY_PGQUEUE = "created by pgqueue"


def _quote(composable: sql.Composable) -> str:
    return composable.as_string(None)


@dataclass(frozen=True)
class Roles:
    """The least-privilege roles a schema's queue is granted to. Roles are
    cluster-wide: two databases migrated with the same names share them."""

    worker: str = "pgqueue_worker"
    producer: str = "pgqueue_producer"


@dataclass(frozen=True)
class Names:
    schema: str
    roles: Roles = Roles()

    @classmethod
    def current(cls) -> Names:
        config = op.get_context().config
        schema = DEFAULT_SCHEMA
        roles = Roles()
        if config is not None:
            schema = config.attributes.get("schema") or config.get_main_option("schema") or schema
            roles = config.attributes.get("roles") or roles
        return cls(schema, roles)

    def create_role(self, role: str) -> None:
        """``CREATE ROLE … NOLOGIN`` unless it exists, safe against another
        database's migration creating it at the same moment (roles are
        cluster-wide: a check and a create would race)."""
        body = sql.SQL(
            "BEGIN CREATE ROLE {} NOLOGIN; "
            "EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END"
        ).format(sql.Identifier(role))
        op.execute(_quote(sql.SQL("DO {}").format(sql.Literal(_quote(body)))))

    def render(self, template: LiteralString, **extra: Any) -> str:
        """Fill ``{schema}``, ``{table}``, ``{name}``-style placeholders with identifiers."""
        values: dict[str, sql.Composable] = {
            "schema": sql.Identifier(self.schema),
            "table": sql.Identifier(self.schema, TABLE),
            "outbox": sql.Identifier(self.schema, OUTBOX),
            "new_id": sql.Identifier(self.schema, "pgqueue_new_id"),
            "registry": sql.Identifier(self.schema, "pgqueue_worker"),
            "limits": sql.Identifier(self.schema, LIMITS),
            "pauses": sql.Identifier(self.schema, PAUSES),
            "starts": sql.Identifier(self.schema, STARTS),
            "settings": sql.Identifier(self.schema, SETTINGS),
            "schedules": sql.Identifier(self.schema, SCHEDULES),
            "uniques": sql.Identifier(self.schema, UNIQUES),
            "attempt_log": sql.Identifier(self.schema, "pgqueue_attempt_log"),
            "waiters": sql.Identifier(self.schema, "pgqueue_waiter"),
            "snowflake": sql.Identifier(self.schema, "snowflake_id"),
            "sequence_name": sql.Literal(
                _quote(sql.Identifier(self.schema, "pgqueue_snowflake_seq"))
            ),
            "sequence": sql.Identifier(self.schema, "pgqueue_snowflake_seq"),
            "notify_function": sql.Identifier(self.schema, "pgqueue_notify"),
            "marker": sql.Literal(CREATED_BY_PGQUEUE),
        }
        for key, value in extra.items():
            if isinstance(value, sql.Composable):
                pass
            elif isinstance(value, str):
                value = sql.Identifier(value)
            elif isinstance(value, tuple):
                value = sql.Identifier(*value)
            values[key] = value
        return _quote(sql.SQL(template).format(**values))

    def qualified(self, name: str, suffix: str = "") -> sql.Literal:
        """``'"schema"."name"'`` as a literal, for ``to_regclass`` and friends."""
        return sql.Literal(_quote(sql.Identifier(self.schema, name)) + suffix)

    def execute(self, template: LiteralString, **extra: Any) -> None:
        op.execute(self.render(template, **extra))

    def ours(self, function: str, arguments: str = "()") -> bool:
        """Whether pgqueue created ``function`` (it carries the marker): a
        NoETL database's own is not pgqueue's to change."""
        comment = self.scalar(
            "SELECT obj_description(to_regprocedure({proc}), 'pg_proc')",
            proc=self.qualified(function, arguments),
        )
        return bool(comment == CREATED_BY_PGQUEUE)

    def execute_locking(
        self, template: LiteralString, *, tries: int = 30, lock_timeout: str = "2s", **extra: Any
    ) -> None:
        """Run a DDL statement that needs a strong lock on a live table: wait at most
        ``lock_timeout`` for it, and try again (up to ``tries`` times, with a pause)
        rather than queue the live workload behind a long transaction that holds
        the table. In a savepoint, so a try that timed out leaves the migration's
        transaction usable."""
        bind = op.get_bind()
        statement = self.render(template, **extra)
        for attempt in range(1, tries + 1):
            bind.exec_driver_sql("SAVEPOINT pgqueue_ddl")
            bind.exec_driver_sql(f"SET LOCAL lock_timeout = '{lock_timeout}'")
            try:
                bind.exec_driver_sql(statement)
            except Exception as exc:
                bind.exec_driver_sql("ROLLBACK TO SAVEPOINT pgqueue_ddl")
                if getattr(getattr(exc, "orig", None), "sqlstate", None) != "55P03":
                    raise
                if attempt == tries:
                    raise
                time.sleep(min(0.1 * 2**attempt, 2.0))
                continue
            bind.exec_driver_sql("SET LOCAL lock_timeout TO DEFAULT")
            bind.exec_driver_sql("RELEASE SAVEPOINT pgqueue_ddl")
            return

    def create_index(self, index: str, definition: LiteralString) -> None:
        """``CREATE INDEX index ON {table} <definition>``, built without blocking
        the live workload's writes: ``CONCURRENTLY``, outside the migration's
        transaction. On a partitioned table (where PostgreSQL cannot build
        concurrently) the index is made ``ON ONLY`` the parent, each partition's
        is built concurrently, then attached. An invalid index left by a build
        that failed is dropped and built again."""
        valid = self._index_valid(index)
        if valid:
            return
        if valid is False:
            self.execute_locking("DROP INDEX IF EXISTS {index}", index=(self.schema, index))
        if not self._partitioned():
            with op.get_context().autocommit_block():
                self.execute(
                    "CREATE INDEX CONCURRENTLY IF NOT EXISTS {index} ON {table} " + definition,
                    index=index,
                )
            return
        self.execute_locking(
            "CREATE INDEX IF NOT EXISTS {index} ON ONLY {table} " + definition, index=index
        )
        for leaf_schema, leaf in self.leaves():
            part = f"{leaf}_{index.removeprefix(TABLE + '_')}"[:63]
            if self._index_valid(part, leaf_schema) is False:
                self.execute_locking("DROP INDEX IF EXISTS {part}", part=(leaf_schema, part))
            with op.get_context().autocommit_block():
                self.execute(
                    "CREATE INDEX CONCURRENTLY IF NOT EXISTS {part} ON {leaf} " + definition,
                    part=part,
                    leaf=(leaf_schema, leaf),
                )
            attached = self.scalar(
                "SELECT 1 FROM pg_inherits WHERE inhrelid = to_regclass({part})",
                part=sql.Literal(_quote(sql.Identifier(leaf_schema, part))),
            )
            if not attached:
                self.execute_locking(
                    "ALTER INDEX {index} ATTACH PARTITION {part}",
                    index=(self.schema, index),
                    part=(leaf_schema, part),
                )

    def other_index_on(self, column: str, besides: str) -> str | None:
        """The name of an index on the table over ``column`` alone (plain, no
        predicate, no expression) other than ``besides``: one NoETL made already,
        which an index of pgqueue's would only repeat (an extra write on every
        update)."""
        found = self.scalar(
            """
            SELECT i.indexrelid::regclass::text
            FROM pg_index AS i
            JOIN pg_attribute AS a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
            WHERE i.indrelid = to_regclass({rel})
              AND i.indnatts = 1
              AND i.indpred IS NULL
              AND i.indexprs IS NULL
              AND a.attname = {column}
              AND i.indexrelid <> coalesce(to_regclass({ours}), 0)
            LIMIT 1
            """,
            rel=self.qualified(TABLE),
            column=sql.Literal(column),
            ours=self.qualified(besides),
        )
        return None if found is None else str(found)

    def drop_index(self, index: str) -> None:
        """``DROP INDEX`` without blocking writes: concurrently on a plain table,
        with a short lock timeout (retried) on a partitioned one."""
        if self._partitioned():
            self.execute_locking("DROP INDEX IF EXISTS {index}", index=(self.schema, index))
            return
        with op.get_context().autocommit_block():
            self.execute("DROP INDEX CONCURRENTLY IF EXISTS {index}", index=(self.schema, index))

    def _index_valid(self, index: str, schema: str | None = None) -> bool | None:
        """Whether the index is valid; ``None`` when there is none."""
        found = self.scalar(
            "SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass({name})",
            name=sql.Literal(_quote(sql.Identifier(schema or self.schema, index))),
        )
        return None if found is None else bool(found)

    def _partitioned(self) -> bool:
        return bool(
            self.scalar(
                "SELECT relkind = 'p' FROM pg_class WHERE oid = to_regclass({rel})",
                rel=self.qualified(TABLE),
            )
        )

    def backfill(self, template: LiteralString, *, batch: int = 5000, **extra: Any) -> None:
        """Run an ``UPDATE`` batch after batch, each its own transaction, outside
        the migration's: ``template`` must update at most ``{batch}`` rows
        (``LIMIT {batch} … FOR UPDATE SKIP LOCKED``) and return how many."""
        with op.get_context().autocommit_block():
            while True:
                done = self.scalar(template, batch=sql.Literal(batch), **extra)
                if int(done or 0) < batch:
                    return

    def exists(self, name: str, *, kind: str = "table") -> bool:
        """Whether the schema has a table (or a function without arguments) ``name``."""
        if kind == "function":
            return (
                self.scalar("SELECT to_regprocedure({rel})", rel=self.qualified(name, "()"))
                is not None
            )
        return self.scalar("SELECT to_regclass({rel})", rel=self.qualified(name)) is not None

    def scalar(self, template: LiteralString, **extra: Any) -> Any:
        return op.get_bind().exec_driver_sql(self.render(template, **extra)).scalar()

    def rows(self, template: LiteralString, **extra: Any) -> list[tuple[Any, ...]]:
        result = op.get_bind().exec_driver_sql(self.render(template, **extra))
        return [tuple(row) for row in result.fetchall()]

    def leaves(self) -> list[tuple[str, str]]:
        """``(schema, name)`` of the tables that hold the rows: the table itself, or
        each leaf partition of a partitioned one (storage settings live there)."""
        found = self.rows(
            """
            SELECT n.nspname, c.relname
            FROM pg_class AS c
            JOIN pg_namespace AS n ON n.oid = c.relnamespace
            -- a plain table is its own leaf; pg_partition_tree lists only partitions
            WHERE c.relkind = 'r'
              AND (c.oid = {rel}::regclass
                   OR c.oid IN (SELECT relid FROM pg_partition_tree({rel}::regclass)))
            ORDER BY 1, 2
            """,
            rel=self.qualified(TABLE),
        )
        return [(str(schema), str(name)) for schema, name in found]

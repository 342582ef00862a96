"""NoETL's base objects: the schema, noetl.snowflake_id() and noetl.command.

Each object is created only when missing, so on a NoETL control-plane database
this revision changes nothing. What pgqueue creates carries a comment marker,
and the downgrade drops only those objects.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

from alembic import op

from pgqueue.migrations.names import CREATED_BY_PGQUEUE, TABLE, Names

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    names = Names.current()
    names.execute("CREATE SCHEMA IF NOT EXISTS {schema}")
    names.execute("CREATE SEQUENCE IF NOT EXISTS {sequence} CYCLE MAXVALUE 262143")

    if (
        names.scalar("SELECT to_regprocedure({proc})", proc=names.qualified("snowflake_id", "()"))
        is None
    ):
        # 41 bits of milliseconds since 2024-01-01, 5 bits of shard
        # (noetl.shard_id, default 0), 18 bits of sequence.
        names.execute(
            """
            CREATE FUNCTION {snowflake}() RETURNS bigint
            LANGUAGE sql VOLATILE PARALLEL SAFE AS $fn$
                SELECT ((floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint
                         - 1704067200000) << 23)
                     | ((coalesce(nullif(current_setting('noetl.shard_id', true), ''), '0')::bigint
                         & 31) << 18)
                     | (nextval({sequence_name}) & 262143)
            $fn$
            """
        )
        names.execute("COMMENT ON FUNCTION {snowflake}() IS {marker}")

    if names.scalar("SELECT to_regclass({rel})", rel=names.qualified(TABLE)) is None:
        # NoETL's own declarations, nullability included, so a table pgqueue
        # creates and one NoETL created look the same after the next revision.
        names.execute(
            """
            CREATE TABLE {table} (
                command_id          bigint      NOT NULL DEFAULT {snowflake}(),
                event_id            bigint,
                execution_id        bigint      NOT NULL,
                catalog_id          bigint,
                parent_execution_id bigint,
                parent_command_id   bigint,
                step_name           text,
                tool_kind           text,
                status              text        DEFAULT 'PENDING',
                worker_id           text,
                claimed_at          timestamptz,
                started_at          timestamptz,
                completed_at        timestamptz,
                attempt             integer     DEFAULT 1,
                context             jsonb,
                meta                jsonb,
                result              jsonb,
                error               text,
                created_at          timestamptz DEFAULT now(),
                updated_at          timestamptz DEFAULT now(),
                PRIMARY KEY (execution_id, command_id)
            )
            """
        )
        names.execute("COMMENT ON TABLE {table} IS {marker}")


def downgrade() -> None:
    names = Names.current()
    table = names.scalar(
        "SELECT obj_description(to_regclass({rel}), 'pg_class')", rel=names.qualified(TABLE)
    )
    if table == CREATED_BY_PGQUEUE:
        names.execute("DROP TABLE {table}")
    function = names.scalar(
        "SELECT obj_description(to_regprocedure({rel}), 'pg_proc')",
        rel=names.qualified("snowflake_id", "()"),
    )
    if function == CREATED_BY_PGQUEUE:
        names.execute("DROP FUNCTION {snowflake}()")
    names.execute("DROP SEQUENCE IF EXISTS {sequence}")


__all__ = ["downgrade", "op", "upgrade"]

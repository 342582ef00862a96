"""The report outbox: what a worker tells a control plane, kept until it is told.

A worker that reports to a control plane (NoETL's, through ``pgqueue worker
--noetl-api``) writes each report here in the same statement as the command's
fenced final write, and a relay in every worker process delivers it. One row
per report: a command has at most a start report and a final one (``kind``),
which the unique key keeps single however often the write is retried. A row is
deleted once delivered; a report the control plane refused for good is kept,
``parked_at`` set, with the response, until an operator sends it again
(``pgqueue requeue --reports``).

Nothing of NoETL's changes: a new table of pgqueue's own beside the queue.
Where NoETL's ``execution`` and ``runtime`` tables exist, the worker role gets
what it needs of them: to read an execution's status (commands of finished
executions are never started) and to keep its own runtime row.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

from pgqueue.migrations.names import Names

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    names = Names.current()
    names.execute(
        """
        CREATE TABLE IF NOT EXISTS {outbox} (
            report_id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            execution_id    bigint NOT NULL,
            command_id      bigint NOT NULL,
            -- 'started' or 'finished': at most one of each per command
            kind            text NOT NULL CHECK (kind IN ('started', 'finished')),
            -- sent with every delivery of this report, so the receiver stores it once
            idempotency_key text NOT NULL,
            body            jsonb NOT NULL,
            created_at      timestamptz NOT NULL DEFAULT now(),
            -- not delivered before this (backoff after a failed delivery)
            due_at          timestamptz NOT NULL DEFAULT now(),
            deliveries      integer NOT NULL DEFAULT 0,
            last_error      text,
            -- refused for good: kept for an operator, never sent on its own again
            parked_at       timestamptz,
            response_status integer,
            response_body   text,
            UNIQUE (execution_id, command_id, kind)
        )
        """,
    )
    names.execute("COMMENT ON TABLE {outbox} IS {marker}")
    # the relay's scan: due reports not parked, oldest first
    names.execute(
        "CREATE INDEX IF NOT EXISTS {index} ON {outbox} (due_at, report_id) "
        "WHERE parked_at IS NULL",
        index="pgqueue_outbox_due_idx",
    )
    worker = names.roles.worker
    names.execute("GRANT SELECT, INSERT, UPDATE, DELETE ON {outbox} TO {role}", role=worker)
    for table, grant in (("execution", "SELECT"), ("runtime", "SELECT, INSERT, UPDATE")):
        if names.exists(table):
            names.execute(
                "GRANT " + grant + " ON {other} TO {role}",
                other=(names.schema, table),
                role=worker,
            )
    # A runtime row's id is the schema's snowflake_id(), as NoETL fills it; that
    # function draws from NoETL's own sequence, which the worker role has no
    # business using otherwise: it gets ids through this definer's wrapper only.
    names.execute(
        """
        CREATE OR REPLACE FUNCTION {new_id}() RETURNS bigint
        LANGUAGE sql VOLATILE SECURITY DEFINER
        SET search_path = pg_catalog, pg_temp
        AS $$ SELECT {snowflake}() $$
        """
    )
    names.execute("COMMENT ON FUNCTION {new_id}() IS {marker}")
    names.execute("REVOKE ALL ON FUNCTION {new_id}() FROM PUBLIC")
    names.execute("GRANT EXECUTE ON FUNCTION {new_id}() TO {role}", role=worker)


def downgrade() -> None:
    names = Names.current()
    names.execute("DROP FUNCTION IF EXISTS {new_id}()")
    names.execute("DROP TABLE IF EXISTS {outbox}")


__all__ = ["downgrade", "op", "upgrade"]

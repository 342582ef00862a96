"""pgqueue's queue columns, claim indexes and the wake-up notification.

Additive and idempotent (``IF NOT EXISTS`` throughout), so it is safe on a live
NoETL table, partitioned or plain: rows already there keep every value, get
``attempts`` from NoETL's 1-based ``attempt``, and become claimable at once.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

from alembic import op

from pgqueue.migrations.names import Names

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

QUEUE_COLUMNS = (
    "attempts",
    "due_at",
    "lease_expires_at",
    "priority",
    "max_attempts",
    "claim_token",
)


def upgrade() -> None:
    names = Names.current()
    # NoETL's own columns first, for control-plane tables that predate some of
    # them; then the queue's. All additive: ADD COLUMN IF NOT EXISTS.
    names.execute_locking(
        """
        ALTER TABLE {table}
            ADD COLUMN IF NOT EXISTS worker_id text,
            ADD COLUMN IF NOT EXISTS claimed_at timestamptz,
            ADD COLUMN IF NOT EXISTS started_at timestamptz,
            ADD COLUMN IF NOT EXISTS completed_at timestamptz,
            ADD COLUMN IF NOT EXISTS attempt integer DEFAULT 1,
            ADD COLUMN IF NOT EXISTS context jsonb,
            ADD COLUMN IF NOT EXISTS meta jsonb,
            ADD COLUMN IF NOT EXISTS result jsonb,
            ADD COLUMN IF NOT EXISTS error text,
            ADD COLUMN IF NOT EXISTS updated_at timestamptz DEFAULT now(),
            -- failed or abandoned attempts so far (the Command's `attempts`)
            ADD COLUMN IF NOT EXISTS attempts integer NOT NULL DEFAULT 0,
            -- not claimable before this time (delays and retry backoff)
            ADD COLUMN IF NOT EXISTS due_at timestamptz NOT NULL DEFAULT now(),
            -- a CLAIMED or RUNNING row whose lease ran out is rescued by the next claim
            ADD COLUMN IF NOT EXISTS lease_expires_at timestamptz,
            -- higher first
            ADD COLUMN IF NOT EXISTS priority integer NOT NULL DEFAULT 0,
            -- attempts allowed before the row is parked as FAILED
            ADD COLUMN IF NOT EXISTS max_attempts integer NOT NULL DEFAULT 5,
            -- new on every claim; every later write is fenced on it
            ADD COLUMN IF NOT EXISTS claim_token uuid
        """
    )
    names.execute_locking("ALTER TABLE {table} ALTER COLUMN status SET DEFAULT 'PENDING'")
    # NoETL counts attempts from 1 in `attempt`; pgqueue counts spent ones. In
    # batches, each its own transaction, after the columns' lock is gone (a
    # row the live workload holds is skipped: its own writes decide it).
    names.backfill(
        """
        WITH batch AS (
            SELECT execution_id, command_id
            FROM {table}
            WHERE attempt > 1 AND attempts = 0 AND status = 'PENDING'
            LIMIT {batch}
            FOR UPDATE SKIP LOCKED
        ),
        done AS (
            UPDATE {table} AS c SET attempts = c.attempt - 1
            FROM batch
            WHERE c.execution_id = batch.execution_id AND c.command_id = batch.command_id
            RETURNING 1
        )
        SELECT count(*) FROM done
        """
    )
    # The scan claim's index: only PENDING rows, in claim order, so it stays
    # small however many finished rows pile up.
    names.create_index(
        "command_pgqueue_pending_idx",
        "(priority DESC, due_at, command_id) WHERE status = 'PENDING'",
    )
    # The rescue's index: leased rows by expiry.
    names.create_index(
        "command_pgqueue_lease_idx", "(lease_expires_at) WHERE status IN ('CLAIMED', 'RUNNING')"
    )
    # Retention pruning's index: finished rows by age.
    names.create_index(
        "command_pgqueue_finished_idx",
        "(completed_at) WHERE status IN ('COMPLETED', 'FAILED', 'CANCELLED')",
    )
    # Targeted claims that know only the command id.
    # (unless the table has one already: NoETL's idx_command_command_id)
    if names.other_index_on("command_id", "command_pgqueue_command_id_idx") is None:
        names.create_index("command_pgqueue_command_id_idx", "(command_id)")
    # One NOTIFY per INSERT statement, never one per row.
    names.execute(
        """
        CREATE OR REPLACE FUNCTION {notify_function}() RETURNS trigger
        LANGUAGE plpgsql AS $fn$
        BEGIN
            PERFORM pg_notify('pgqueue.' || TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME, 'insert');
            RETURN NULL;
        END
        $fn$
        """
    )
    names.execute_locking("DROP TRIGGER IF EXISTS pgqueue_notify ON {table}")
    names.execute_locking(
        """
        CREATE TRIGGER pgqueue_notify AFTER INSERT ON {table}
        FOR EACH STATEMENT EXECUTE FUNCTION {notify_function}()
        """
    )


def downgrade() -> None:
    names = Names.current()
    names.execute("DROP TRIGGER IF EXISTS pgqueue_notify ON {table}")
    names.execute("DROP FUNCTION IF EXISTS {notify_function}()")
    for index in (
        "command_pgqueue_pending_idx",
        "command_pgqueue_lease_idx",
        "command_pgqueue_finished_idx",
        "command_pgqueue_command_id_idx",
    ):
        names.execute("DROP INDEX IF EXISTS {index}", index=(names.schema, index))
    for column in QUEUE_COLUMNS:
        names.execute("ALTER TABLE {table} DROP COLUMN IF EXISTS {column}", column=column)


__all__ = ["downgrade", "op", "upgrade"]

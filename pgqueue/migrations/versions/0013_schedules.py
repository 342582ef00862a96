"""Schedules: periodic commands, each tick enqueued exactly once by whichever
worker gets to it first, with no leader.

- ``pgqueue_schedule``: one row a schedule: its name, its timing (a cron
  expression in a time zone, or a fixed interval from an anchor), the command
  each tick enqueues (a `pgqueue.NewCommand` as JSON), what happens to ticks
  missed while no worker ran (``skip``, or ``backfill`` up to a count and/or a
  window), a pause, and the watermark: ``last_tick``, the latest tick dealt
  with (enqueued, or skipped by the policy). A worker moves the watermark with
  a compare-and-swap on it, in the transaction that enqueues the ticks: of
  two workers that saw the same watermark, the second's update finds it moved
  (it waits for the first's row lock, then re-reads the row) and enqueues
  nothing. The next tick is not stored: it follows from the timing and the
  watermark (`pgqueue.schedules.Schedule.next_tick`).

Additive; a table of pgqueue's own; nothing of NoETL's changes.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

from pgqueue.migrations.names import Names

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    names = Names.current()
    names.execute(
        """
        CREATE TABLE IF NOT EXISTS {schedules} (
            name             text PRIMARY KEY CHECK (name <> ''),
            cron             text,
            every            interval CHECK (every >= interval '1 second'),
            timezone         text NOT NULL DEFAULT 'UTC',
            command          jsonb NOT NULL,
            missed           text NOT NULL DEFAULT 'skip'
                             CHECK (missed IN ('skip', 'backfill')),
            backfill_count   integer CHECK (backfill_count > 0),
            backfill_window  interval CHECK (backfill_window > interval '0'),
            paused_at        timestamptz,
            paused_reason    text,
            anchor           timestamptz NOT NULL DEFAULT now(),
            last_tick        timestamptz NOT NULL DEFAULT now(),
            created_at       timestamptz NOT NULL DEFAULT now(),
            updated_at       timestamptz NOT NULL DEFAULT now(),
            -- a cron expression or an interval, never both
            CHECK ((cron IS NULL) <> (every IS NULL)),
            -- a backfill says how far back
            CHECK (missed <> 'backfill'
                   OR backfill_count IS NOT NULL OR backfill_window IS NOT NULL)
        )
        """
    )
    names.execute("COMMENT ON TABLE {schedules} IS {marker}")
    # a worker reads the schedules, moves their watermarks and enqueues their
    # ticks; a producer (an application, the CLI) adds, changes and removes them
    names.execute("GRANT SELECT, UPDATE ON {schedules} TO {a}", a=names.roles.worker)
    names.execute(
        "GRANT SELECT, INSERT, UPDATE, DELETE ON {schedules} TO {b}", b=names.roles.producer
    )


def downgrade() -> None:
    Names.current().execute("DROP TABLE IF EXISTS {schedules}")


__all__ = ["downgrade", "op", "upgrade"]

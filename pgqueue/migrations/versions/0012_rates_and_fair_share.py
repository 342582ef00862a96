"""Rate limits (at most N starts of a key in any window of a period) and fair
share (a claim spread round-robin over executions or concurrency keys).

- ``pgqueue_limit`` gains ``rate_count`` and ``rate_period`` (both or
  neither), and its ``max_running`` may be empty: a limit row holds a
  concurrency limit, a rate, or both.
- ``pgqueue_start``: the recent starts (claims) of each rate-limited key, as
  ``'<scope>:<key>'`` (``tool_kind:http``, ``execution:42``, ``key:tenant-9``)
  and the claim's time. A claim under a rate counts the starts in the window
  before it takes a row and writes its own in the same statement; starts older
  than their key's period are deleted as claims go. A sliding window over the
  starts themselves, not a token bucket: "at most N in ANY window of PERIOD"
  is then exact (a full bucket lets N start at the end of one window and N
  more at the start of the next: 2N in one period).

- ``pgqueue_setting``: the fleet's flow settings, read by every claim; one
  now, ``fair_share`` (``execution`` or ``key``; no row: off).
- ``command_pgqueue_fair_execution_idx`` and ``command_pgqueue_fair_key_idx``:
  PENDING rows by kind and execution (by kind and concurrency key, for keyed
  rows only), in claim order within each: a fair claim finds the executions
  (keys) with due work one index probe each, and takes the first rows of each.
  Partial on PENDING, so a claim or a completion writes no entry in them.

Additive; tables and indexes of pgqueue's own; nothing of NoETL's changes.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

from pgqueue.migrations.names import Names

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    names = Names.current()
    # the claim reads the limits on every claim: wait for the lock in short tries
    names.execute_locking(
        """
        ALTER TABLE {limits}
            ALTER COLUMN max_running DROP NOT NULL,
            ADD COLUMN IF NOT EXISTS rate_count integer CHECK (rate_count > 0),
            ADD COLUMN IF NOT EXISTS rate_period interval
                CHECK (rate_period > interval '0'),
            ADD CONSTRAINT pgqueue_limit_rate_whole
                CHECK ((rate_count IS NULL) = (rate_period IS NULL)),
            ADD CONSTRAINT pgqueue_limit_some_lever
                CHECK (max_running IS NOT NULL OR rate_count IS NOT NULL)
        """
    )
    names.execute(
        """
        CREATE TABLE IF NOT EXISTS {starts} (
            key         text NOT NULL,
            started_at  timestamptz NOT NULL
        )
        """
    )
    names.execute("COMMENT ON TABLE {starts} IS {marker}")
    names.execute("CREATE INDEX IF NOT EXISTS pgqueue_start_key_idx ON {starts} (key, started_at)")
    # a worker's claim counts, writes and ages out starts; a producer never does
    names.execute("GRANT SELECT, INSERT, DELETE ON {starts} TO {a}", a=names.roles.worker)
    names.execute(
        """
        CREATE TABLE IF NOT EXISTS {settings} (
            name        text PRIMARY KEY CHECK (name IN ('fair_share')),
            value       text NOT NULL,
            updated_at  timestamptz NOT NULL DEFAULT now(),
            CHECK (name <> 'fair_share' OR value IN ('execution', 'key'))
        )
        """
    )
    names.execute("COMMENT ON TABLE {settings} IS {marker}")
    names.execute(
        "GRANT SELECT ON {settings} TO {a}, {b}", a=names.roles.worker, b=names.roles.producer
    )
    names.create_index(
        "command_pgqueue_fair_execution_idx",
        "((coalesce(tool_kind, '')), execution_id, priority DESC, due_at, command_id)"
        " WHERE status = 'PENDING'",
    )
    names.create_index(
        "command_pgqueue_fair_key_idx",
        "((coalesce(tool_kind, '')), concurrency_key, priority DESC, due_at, command_id)"
        " WHERE status = 'PENDING' AND concurrency_key IS NOT NULL",
    )


def downgrade() -> None:
    names = Names.current()
    names.drop_index("command_pgqueue_fair_key_idx")
    names.drop_index("command_pgqueue_fair_execution_idx")
    names.execute("DROP TABLE IF EXISTS {settings}")
    names.execute("DROP TABLE IF EXISTS {starts}")
    # a rate-only limit has nothing to keep once rates are gone
    names.execute("DELETE FROM {limits} WHERE max_running IS NULL")
    names.execute_locking(
        """
        ALTER TABLE {limits}
            DROP CONSTRAINT IF EXISTS pgqueue_limit_some_lever,
            DROP CONSTRAINT IF EXISTS pgqueue_limit_rate_whole,
            DROP COLUMN IF EXISTS rate_period,
            DROP COLUMN IF EXISTS rate_count,
            ALTER COLUMN max_running SET NOT NULL
        """
    )


__all__ = ["downgrade", "op", "upgrade"]

"""Flow control: concurrency limits by key, paused tool kinds, and a claim
that reads only the kinds a worker serves.

- ``concurrency_key`` on the command table: a free key a producer sets at
  enqueue (a tenant, an external account) that a limit may name. Nullable, no
  default: adding it rewrites nothing, and NoETL's INSERTs leave it NULL.
- ``pgqueue_limit``: one row per limit, ``(scope, key)`` with ``scope`` one of
  ``tool_kind``, ``key`` (a concurrency key), ``execution`` (one execution) and
  ``every_execution`` (the default for each execution, ``key`` empty). A row
  holds ``max_running`` (at most that many of the key CLAIMED or RUNNING at
  once) and is changed at runtime: the next claim reads it.
- ``pgqueue_pause``: tool kinds no claim takes, with the operator's reason.
- ``command_pgqueue_kind_pending_idx``: PENDING rows by tool kind (``''``
  for none: every worker takes those, to park them as Failed), in claim
  order, so a worker serving kinds A and B reads only A's and B's rows
  however many rows of other kinds wait (a claim walked past them on the
  kind-less index before).

Additive; a table of pgqueue's own; nothing of NoETL's changes.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

from pgqueue.migrations.names import Names

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    names = Names.current()
    names.execute_locking("ALTER TABLE {table} ADD COLUMN IF NOT EXISTS concurrency_key text")
    names.execute(
        """
        CREATE TABLE IF NOT EXISTS {limits} (
            scope        text NOT NULL
                         CHECK (scope IN ('tool_kind', 'key', 'execution', 'every_execution')),
            key          text NOT NULL,
            max_running  integer NOT NULL CHECK (max_running > 0),
            updated_at   timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (scope, key),
            CHECK ((scope = 'every_execution') = (key = ''))
        )
        """
    )
    names.execute("COMMENT ON TABLE {limits} IS {marker}")
    names.execute(
        """
        CREATE TABLE IF NOT EXISTS {pauses} (
            tool_kind  text PRIMARY KEY,
            reason     text,
            paused_at  timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    names.execute("COMMENT ON TABLE {pauses} IS {marker}")
    # the claim reads both; changing them is an operator's (the owner's) act
    roles = {"a": names.roles.worker, "b": names.roles.producer}
    names.execute("GRANT SELECT ON {limits} TO {a}, {b}", **roles)
    names.execute("GRANT SELECT ON {pauses} TO {a}, {b}", **roles)
    names.create_index(
        "command_pgqueue_kind_pending_idx",
        "((coalesce(tool_kind, '')), priority DESC, due_at, command_id) WHERE status = 'PENDING'",
    )


def downgrade() -> None:
    names = Names.current()
    names.drop_index("command_pgqueue_kind_pending_idx")
    names.execute("DROP TABLE IF EXISTS {pauses}")
    names.execute("DROP TABLE IF EXISTS {limits}")
    names.execute_locking("ALTER TABLE {table} DROP COLUMN IF EXISTS concurrency_key")


__all__ = ["downgrade", "op", "upgrade"]

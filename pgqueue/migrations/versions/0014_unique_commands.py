"""Unique commands: while a command with a unique key is in one of its states
(PENDING, CLAIMED or RUNNING unless the producer says), another enqueue with
that key writes nothing and returns the existing command's id.

- ``pgqueue_unique``: one row a key: the command that holds it, the states it
  holds it in, and the transaction that made it the holder (``holder_xact``).
  Its own table rather than a partial unique index on the command table (the
  River model): on NoETL's hash-partitioned table a unique index must include
  ``execution_id``, so no index there can make a key unique across
  executions; one design serves both layouts, and the claim and completion
  write nothing for it. A key is taken over once its holder is in none of its
  states (or gone): checked at the next enqueue of that key, never on the hot
  path.
- The producer role may read ``status`` of the command table: an enqueue of a
  key checks whether its holder still holds it.

Additive; a table of pgqueue's own; nothing of NoETL's changes.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

from pgqueue.migrations.names import Names

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    names = Names.current()
    names.execute(
        """
        CREATE TABLE IF NOT EXISTS {uniques} (
            unique_key    text PRIMARY KEY,
            execution_id  bigint NOT NULL,
            command_id    bigint NOT NULL,
            states        text[] NOT NULL CHECK (cardinality(states) > 0),
            holder_xact   xid8 NOT NULL,
            updated_at    timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    names.execute("COMMENT ON TABLE {uniques} IS {marker}")
    names.execute("GRANT SELECT, INSERT, UPDATE ON {uniques} TO {b}", b=names.roles.producer)
    names.execute("GRANT SELECT ON {uniques} TO {a}", a=names.roles.worker)
    names.execute("GRANT SELECT (status) ON {table} TO {b}", b=names.roles.producer)


def downgrade() -> None:
    names = Names.current()
    names.execute("REVOKE SELECT (status) ON {table} FROM {b}", b=names.roles.producer)
    names.execute("DROP TABLE IF EXISTS {uniques}")


__all__ = ["downgrade", "op", "upgrade"]

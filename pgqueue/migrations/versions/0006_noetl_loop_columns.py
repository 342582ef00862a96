"""NoETL's loop columns, where the table lacks them.

Producers may set NoETL's own columns (``enqueue(..., loop_event_id=,
iter_index=)``); NoETL's control plane has had ``loop_event_id`` and
``iter_index`` for a while, but a table pgqueue created does not. Both are
added nullable, without a default: a change to the catalog only, which never
rewrites the table. The lock it needs is taken with a short ``lock_timeout``,
so an open transaction in front of it makes the migration retry, instead of
queueing every claim and enqueue behind it.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

from pgqueue.migrations.names import Names

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    names = Names.current()
    names.execute_locking(
        """
        ALTER TABLE {table}
            ADD COLUMN IF NOT EXISTS loop_event_id bigint,
            ADD COLUMN IF NOT EXISTS iter_index integer
        """
    )


def downgrade() -> None:
    # NoETL's own columns: a downgrade keeps them (a NoETL table always had them,
    # and dropping a column is not additive)
    pass


__all__ = ["downgrade", "op", "upgrade"]

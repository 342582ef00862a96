"""No index that repeats one NoETL already has.

Targeted claims that know only a command id need an index on ``command_id``.
NoETL's control plane has one of its own (``idx_command_command_id``); pgqueue's
``command_pgqueue_command_id_idx`` beside it was an extra write on every claim,
completion and heartbeat, for nothing. Where another plain index on
``command_id`` alone exists, pgqueue's is dropped (without blocking writes);
on a table pgqueue created, its own stays.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

from pgqueue.migrations.names import Names

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

OURS = "command_pgqueue_command_id_idx"


def upgrade() -> None:
    names = Names.current()
    if names.other_index_on("command_id", OURS) is not None:
        names.drop_index(OURS)


def downgrade() -> None:
    names = Names.current()
    if names.other_index_on("command_id", OURS) is None:
        names.create_index(OURS, "(command_id)")


__all__ = ["downgrade", "op", "upgrade"]

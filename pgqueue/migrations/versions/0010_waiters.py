"""Waiters: who waits on a command, so its end can wake them.

`pgqueue.wait` records the command it waits on here and LISTENs; the writes
that finish a command (completion, the nack that parks it, cancel) notify once
for the finished commands that have a waiter, and never when none has: a
``NOTIFY`` takes the server's notification lock at commit, which every worker's
completions would otherwise queue on. A table of pgqueue's own.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

from pgqueue.migrations.names import Names

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    names = Names.current()
    names.execute(
        """
        CREATE TABLE IF NOT EXISTS {waiter} (
            command_id bigint NOT NULL,
            since      timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    names.execute("COMMENT ON TABLE {waiter} IS {marker}")
    names.execute(
        "CREATE INDEX IF NOT EXISTS {index} ON {waiter} (command_id)", index="pgqueue_waiter_idx"
    )
    # workers look (their finishing writes); whoever waits is a producer or a worker
    names.execute("GRANT SELECT, INSERT, DELETE ON {waiter} TO {role}", role=names.roles.worker)
    names.execute("GRANT SELECT, INSERT, DELETE ON {waiter} TO {role}", role=names.roles.producer)


def downgrade() -> None:
    Names.current().execute("DROP TABLE IF EXISTS {waiter}")


__all__ = ["downgrade", "op", "upgrade"]

"""The worker registry: which workers are alive, and what they serve.

Each ``pgqueue worker`` process keeps one row here while it runs (its id, host,
pid, tool kinds, slots, when it started, its last heartbeat) and deletes it when
it stops. ``pgqueue status`` reads it to show the live workers and every tool
kind with pending work that no live worker serves; ``pgqueue enqueue`` warns
about such a kind; a second process started with a worker id a live one holds
is refused. A table of pgqueue's own: nothing of NoETL's changes.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

from pgqueue.migrations.names import Names

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    names = Names.current()
    names.execute(
        """
        CREATE TABLE IF NOT EXISTS {registry} (
            worker_id    text PRIMARY KEY,
            host         text NOT NULL,
            pid          integer NOT NULL,
            tool_kinds   text[] NOT NULL,
            concurrency  integer NOT NULL,
            started_at   timestamptz NOT NULL DEFAULT now(),
            heartbeat_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    names.execute("COMMENT ON TABLE {registry} IS {marker}")
    names.execute(
        "GRANT SELECT, INSERT, UPDATE, DELETE ON {registry} TO {role}", role=names.roles.worker
    )
    # a producer may read it: enqueue warns about a kind no live worker serves
    names.execute("GRANT SELECT ON {registry} TO {role}", role=names.roles.producer)


def downgrade() -> None:
    Names.current().execute("DROP TABLE IF EXISTS {registry}")


__all__ = ["downgrade", "op", "upgrade"]

"""What the least-privilege roles read beside the command table.

- The schema's version table (``pgqueue_alembic_version``): a worker checks the
  schema's revision at start-up, and a worker logged in as a member of
  ``pgqueue_worker`` was refused there (``permission denied for table
  pgqueue_alembic_version``) and exited 1. Producers read it too (``pgqueue
  enqueue`` checks the revision).
- NoETL's ``event`` table, where it exists: a command of an execution with a
  terminal event is never started (NoETL's own claim rule), so a worker reads
  it after each claim.

Grants only: nothing of NoETL's changes.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

from pgqueue.migrations.names import VERSION_TABLE, Names

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    names = Names.current()
    names.execute(
        "GRANT SELECT ON {other} TO {a}, {b}",
        other=(names.schema, VERSION_TABLE),
        a=names.roles.worker,
        b=names.roles.producer,
    )
    if names.exists("event"):
        names.execute(
            "GRANT SELECT ON {other} TO {role}",
            other=(names.schema, "event"),
            role=names.roles.worker,
        )


def downgrade() -> None:
    names = Names.current()
    names.execute(
        "REVOKE SELECT ON {other} FROM {a}, {b}",
        other=(names.schema, VERSION_TABLE),
        a=names.roles.worker,
        b=names.roles.producer,
    )
    if names.exists("event"):
        names.execute(
            "REVOKE SELECT ON {other} FROM {role}",
            other=(names.schema, "event"),
            role=names.roles.worker,
        )


__all__ = ["downgrade", "op", "upgrade"]

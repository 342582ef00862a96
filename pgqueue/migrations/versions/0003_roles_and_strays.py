"""Least-privilege roles, and an index that finds rows with an unknown status.

- ``pgqueue_worker`` (NOLOGIN): reads and updates the queue table (a claim is a
  ``SELECT … FOR UPDATE`` and an ``UPDATE``). No INSERT, no DELETE, no DDL.
  Grant ``DELETE`` too if that worker should prune (``--retention``).
- ``pgqueue_producer`` (NOLOGIN): inserts commands and draws ids from
  ``snowflake_id()``; it cannot read (beyond the two key columns that
  ``ON CONFLICT`` checks), claim or change them.

Grant them to your login roles: ``GRANT pgqueue_worker TO my_worker_login``.
Roles are cluster-wide, so they are created only when missing (safely, while
another database's migration may create them too) and the downgrade revokes
what this database granted without dropping them. Their names are
configurable (``pgqueue migrate --worker-role … --producer-role …``, or
``-x worker_role=… -x producer_role=…``): give each database its own, or a
grant for one database reaches every database migrated with the same names.

The stray index holds only rows whose status is none of NoETL's (normally
none), so the claim can surface them as `Failed` at the cost of one probe of an
empty index.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from __future__ import annotations

from alembic import op

from pgqueue.migrations.names import Names

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    names = Names.current()
    worker, producer = names.roles.worker, names.roles.producer
    names.create_index(
        "command_pgqueue_stray_idx",
        """(command_id)
        WHERE status IS NULL
           OR status NOT IN ('PENDING', 'CLAIMED', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED')
        """,
    )
    for role in (worker, producer):
        names.create_role(role)
    names.execute("GRANT USAGE ON SCHEMA {schema} TO {a}, {b}", a=worker, b=producer)
    names.execute("GRANT SELECT, UPDATE ON {table} TO {role}", role=worker)
    names.execute("GRANT INSERT ON {table} TO {role}", role=producer)
    # ON CONFLICT (execution_id, command_id) reads the key columns, and only those
    names.execute("GRANT SELECT (execution_id, command_id) ON {table} TO {role}", role=producer)
    names.execute("GRANT USAGE ON SEQUENCE {sequence} TO {role}", role=producer)
    names.execute("GRANT EXECUTE ON FUNCTION {snowflake}() TO {role}", role=producer)


def downgrade() -> None:
    names = Names.current()
    worker, producer = names.roles.worker, names.roles.producer
    names.execute("REVOKE ALL ON {table} FROM {a}, {b}", a=worker, b=producer)
    names.execute("REVOKE ALL ON SEQUENCE {sequence} FROM {role}", role=producer)
    names.execute("REVOKE ALL ON FUNCTION {snowflake}() FROM {role}", role=producer)
    names.execute("REVOKE ALL ON SCHEMA {schema} FROM {a}, {b}", a=worker, b=producer)
    names.execute("DROP INDEX IF EXISTS {index}", index=(names.schema, "command_pgqueue_stray_idx"))


__all__ = ["downgrade", "op", "upgrade"]

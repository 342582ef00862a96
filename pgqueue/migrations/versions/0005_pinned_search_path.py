"""pgqueue's functions pin their ``search_path``.

``snowflake_id()`` (where pgqueue created it) and the NOTIFY trigger function
use operators unqualified (``<<``, ``|``, ``||``). PostgreSQL resolves them on
the caller's ``search_path`` when the function runs, so whoever may create a
schema could plant an operator there and have it run as any caller that has
that schema on its path (an inserting producer, a superuser). Each function
now runs with ``search_path = pg_catalog, pg_temp``: every name in them is
either qualified or a built-in.

NoETL's own ``snowflake_id()`` (one pgqueue did not create) is left as it is:
it is not pgqueue's to change.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

from pgqueue.migrations.names import Names

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    names = Names.current()
    names.execute("ALTER FUNCTION {notify_function}() SET search_path = pg_catalog, pg_temp")
    if names.ours("snowflake_id"):
        names.execute("ALTER FUNCTION {snowflake}() SET search_path = pg_catalog, pg_temp")


def downgrade() -> None:
    names = Names.current()
    names.execute("ALTER FUNCTION {notify_function}() RESET search_path")
    if names.ours("snowflake_id"):
        names.execute("ALTER FUNCTION {snowflake}() RESET search_path")


__all__ = ["downgrade", "op", "upgrade"]

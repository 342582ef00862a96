"""pgqueue's ``snowflake_id()`` becomes an expression the planner inlines.

Pinned to a ``search_path`` (revision 0005), the function could not be
inlined: each id was a function call that made and undid a setting, and a
bulk enqueue, which draws its ids in one statement over a series, spent a
third of its time there. It now names every function and operator with its
schema (``OPERATOR(pg_catalog.<<)``, no ``NULLIF``, whose ``=`` is looked up on
the caller's path), so an operator planted on a caller's path still never
runs, and it needs no ``search_path`` of its own. The ids are the same: 41
bits of milliseconds since 2024-01-01, 5 bits of shard (``noetl.shard_id``),
18 bits of sequence.

Only where pgqueue created the function; NoETL's own is left as it is.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

from pgqueue.migrations.names import Names

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    names = Names.current()
    if names.ours("snowflake_id"):
        names.execute(
            """
            CREATE OR REPLACE FUNCTION {snowflake}() RETURNS bigint
            LANGUAGE sql VOLATILE PARALLEL SAFE AS $fn$
                SELECT ((pg_catalog.floor(pg_catalog.extract('epoch', pg_catalog.clock_timestamp())
                                          OPERATOR(pg_catalog.*) 1000)::bigint
                         OPERATOR(pg_catalog.-) 1704067200000) OPERATOR(pg_catalog.<<) 23)
                     OPERATOR(pg_catalog.|)
                       ((CASE WHEN pg_catalog.current_setting('noetl.shard_id', true)
                                   OPERATOR(pg_catalog.<>) ''
                              THEN pg_catalog.current_setting('noetl.shard_id', true)::bigint
                              ELSE 0::bigint END
                         OPERATOR(pg_catalog.&) 31) OPERATOR(pg_catalog.<<) 18)
                     OPERATOR(pg_catalog.|)
                       (pg_catalog.nextval({sequence_name}) OPERATOR(pg_catalog.&) 262143)
            $fn$
            """
        )


def downgrade() -> None:
    names = Names.current()
    if names.ours("snowflake_id"):
        # revision 0001's body, pinned as revision 0005 left it
        names.execute(
            """
            CREATE OR REPLACE FUNCTION {snowflake}() RETURNS bigint
            LANGUAGE sql VOLATILE PARALLEL SAFE
            SET search_path = pg_catalog, pg_temp AS $fn$
                SELECT ((floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint
                         - 1704067200000) << 23)
                     | ((coalesce(nullif(current_setting('noetl.shard_id', true), ''), '0')::bigint
                         & 31) << 18)
                     | (nextval({sequence_name}) & 262143)
            $fn$
            """
        )


__all__ = ["downgrade", "op", "upgrade"]

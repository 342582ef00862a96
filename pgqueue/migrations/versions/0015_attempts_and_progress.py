"""Commands that talk back: each command's attempt history and its progress.

- ``attempt_log`` (jsonb): the attempts that did not complete, oldest first,
  the last `KEPT` only: each one's number, worker, claim, start and end, and
  its error (a failure, a timeout, a lease lost with its worker). Written by a
  retry or a failure (the nack) and by the rescue of a lost lease, never by a
  completion: the attempt that completes is the row itself.
- ``progress`` (jsonb): what a running tool last said of its progress
  (``ctx.progress(...)``), written with its worker's next heartbeat.
- ``pgqueue_attempt_log(log, entry)``: ``log`` with ``entry`` appended, the
  last `KEPT` entries kept (the bound: a command retried forever cannot grow
  its row without end).

On NoETL's table both columns are added to the partitioned parent (and so to
each partition): NULL by default, no rewrite, no index.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op
from psycopg import sql

from pgqueue.migrations.names import Names

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

#: the attempts an attempt log keeps
KEPT = 10


def upgrade() -> None:
    names = Names.current()
    names.execute_locking(
        "ALTER TABLE {table} ADD COLUMN IF NOT EXISTS attempt_log jsonb,"
        " ADD COLUMN IF NOT EXISTS progress jsonb"
    )
    names.execute(
        """
        CREATE OR REPLACE FUNCTION {attempt_log}(log jsonb, entry jsonb) RETURNS jsonb
        LANGUAGE sql IMMUTABLE PARALLEL SAFE
        SET search_path = pg_catalog
        AS $$
            SELECT coalesce(jsonb_agg(e ORDER BY n), '[]'::jsonb)
            FROM (SELECT e, n
                  FROM jsonb_array_elements(coalesce(log, '[]'::jsonb) || jsonb_build_array(entry))
                       WITH ORDINALITY AS a(e, n)
                  ORDER BY n DESC
                  LIMIT {kept}) AS last
        $$
        """,
        kept=sql.Literal(KEPT),
    )
    names.execute(
        "GRANT EXECUTE ON FUNCTION {attempt_log}(jsonb, jsonb) TO {a}", a=names.roles.worker
    )


def downgrade() -> None:
    names = Names.current()
    names.execute("DROP FUNCTION IF EXISTS {attempt_log}(jsonb, jsonb)")
    names.execute_locking(
        "ALTER TABLE {table} DROP COLUMN IF EXISTS progress, DROP COLUMN IF EXISTS attempt_log"
    )


__all__ = ["downgrade", "op", "upgrade"]

"""``pgqueue.wait`` without polling: the callers waiting for a command.

- ``pgqueue_waiter``: one row a waiting call (its command, and when it began),
  written by `pgqueue.wait` when it starts waiting and deleted when it
  returns. A worker that knows of waiters (a waiter NOTIFYs the queue's
  channel with ``waiting``) follows each of its completions, in the same
  transaction, with a look at this table that NOTIFYs the waiters of the
  commands now finished; knowing of none, it writes and reads nothing here.
  A row its caller left behind (a killed process) is only ever read: it
  costs a worker one look per completion until it is pruned (``since`` older
  than a day, by the next wait).

Additive; a table of pgqueue's own.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

from pgqueue.migrations.names import Names

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    names = Names.current()
    names.execute(
        """
        CREATE TABLE IF NOT EXISTS {waiters} (
            waiter_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            execution_id  bigint NOT NULL,
            command_id    bigint NOT NULL,
            since         timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    names.execute("COMMENT ON TABLE {waiters} IS {marker}")
    names.execute(
        "GRANT SELECT, INSERT, DELETE ON {waiters} TO {a}, {b}",
        a=names.roles.worker,
        b=names.roles.producer,
    )


def downgrade() -> None:
    Names.current().execute("DROP TABLE IF EXISTS {waiters}")


__all__ = ["downgrade", "op", "upgrade"]

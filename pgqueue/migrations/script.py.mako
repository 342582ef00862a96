"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}
"""

from alembic import op

from pgqueue.migrations.names import Names

revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
branch_labels = ${repr(branch_labels)}
depends_on = ${repr(depends_on)}


def upgrade() -> None:
    names = Names.current()
    ${upgrades if upgrades else "pass"}


def downgrade() -> None:
    names = Names.current()
    ${downgrades if downgrades else "pass"}

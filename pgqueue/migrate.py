"""Run the bundled alembic migrations from an installed package (`pgqueue migrate`)."""

from __future__ import annotations

from alembic import command
from alembic.config import Config

from pgqueue.migrations.names import DEFAULT_SCHEMA, Roles

SCRIPT_LOCATION = "pgqueue:migrations"


def alembic_config(dsn: str, *, schema: str = DEFAULT_SCHEMA, roles: Roles | None = None) -> Config:
    """An alembic `Config` for the bundled migrations, without any ini file."""
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    config.attributes["dsn"] = dsn
    config.attributes["schema"] = schema
    if roles is not None:
        config.attributes["roles"] = roles
    return config


def upgrade(
    dsn: str, revision: str = "head", *, schema: str = DEFAULT_SCHEMA, roles: Roles | None = None
) -> None:
    """Bring the queue schema up to ``revision``; ``roles`` names the worker and
    producer roles it grants to (default: ``pgqueue_worker``, ``pgqueue_producer``,
    which are cluster-wide: give each database names of its own to keep a grant
    for one database from reaching another's queue)."""
    command.upgrade(alembic_config(dsn, schema=schema, roles=roles), revision)


def downgrade(
    dsn: str, revision: str, *, schema: str = DEFAULT_SCHEMA, roles: Roles | None = None
) -> None:
    """Take the queue schema back to ``revision`` (``"base"`` removes pgqueue's objects)."""
    command.downgrade(alembic_config(dsn, schema=schema, roles=roles), revision)


def current(dsn: str, *, schema: str = DEFAULT_SCHEMA) -> str | None:
    """The revision the database is at, or ``None`` before the first migration."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(dsn) as conn:
        exists = conn.execute(
            "SELECT to_regclass(%s)",
            (sql.Identifier(schema, "pgqueue_alembic_version").as_string(None),),
        ).fetchone()
        if not exists or exists[0] is None:
            return None
        row = conn.execute(
            sql.SQL("SELECT version_num FROM {}").format(
                sql.Identifier(schema, "pgqueue_alembic_version")
            )
        ).fetchone()
        return str(row[0]) if row else None


def drop_schema(dsn: str, schema: str) -> None:
    """Drop ``schema`` and everything in it (the demo, bench and chaos schemas,
    which those programs make anew each run; never a schema of a user's)."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def head() -> str:
    """The newest revision shipped with this package."""
    from alembic.script import ScriptDirectory

    heads = ScriptDirectory.from_config(alembic_config("")).get_heads()
    return heads[0]


__all__ = ["Roles", "alembic_config", "current", "downgrade", "drop_schema", "head", "upgrade"]

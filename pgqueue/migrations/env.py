"""Alembic environment: a psycopg connection, pgqueue's own version table.

The version table is ``pgqueue_alembic_version`` in the queue's schema, so it
never collides with a host application's ``alembic_version``. The DSN comes
from ``pgqueue migrate``, ``-x dsn=…``, or the usual resolution (``PGQUEUE_DSN``,
``DATABASE_URL``, ``PG*``).
"""

from __future__ import annotations

import psycopg
from alembic import context
from psycopg import sql
from sqlalchemy import create_engine, pool

from pgqueue import dsn as dsns
from pgqueue.migrations.names import DEFAULT_SCHEMA, VERSION_TABLE, Roles

#: Serialises concurrent `pgqueue migrate` runs (several workers starting at once).
ADVISORY_LOCK_KEY = 7_236_115_000_001

config = context.config
if config.config_file_name is not None:
    # `alembic upgrade` from the checkout: alembic.ini's logging, so each step
    # says what it runs (pgqueue migrate configures its own)
    from logging.config import fileConfig

    fileConfig(config.config_file_name, disable_existing_loggers=False)
x_args = context.get_x_argument(as_dictionary=True)
schema = config.attributes.get("schema") or x_args.get("schema") or DEFAULT_SCHEMA
config.attributes["schema"] = schema
if not config.attributes.get("roles"):
    # from the checkout: alembic -x worker_role=… -x producer_role=… upgrade head
    default = Roles()
    config.attributes["roles"] = Roles(
        worker=x_args.get("worker_role", default.worker),
        producer=x_args.get("producer_role", default.producer),
    )


def _dsn() -> str:
    given = config.attributes.get("dsn") or x_args.get("dsn")
    if given is not None:
        return dsns.normalize(given)
    resolved = dsns.resolve()
    if resolved is None:
        raise SystemExit(
            "pgqueue: no database configured; set PGQUEUE_DSN or DATABASE_URL, "
            "or pass -x dsn=postgresql://…"
        )
    return resolved[0]


def run_migrations_online() -> None:
    conninfo = _dsn()
    engine = create_engine(
        "postgresql+psycopg://",
        creator=lambda: psycopg.connect(conninfo),
        poolclass=pool.NullPool,
    )
    with engine.connect() as connection:
        # The version table lives in the schema, so the schema must exist first.
        connection.exec_driver_sql(
            sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)).as_string(None)
        )
        connection.commit()
        # Each revision its own transaction, so none holds its locks through the
        # next; index builds run outside any (CONCURRENTLY). A session lock
        # serialises concurrent runs across all of that.
        connection.exec_driver_sql(f"SELECT pg_advisory_lock({ADVISORY_LOCK_KEY})")
        connection.commit()
        context.configure(
            connection=connection,
            version_table=VERSION_TABLE,
            version_table_schema=schema,
            transaction_per_migration=True,
        )
        try:
            with context.begin_transaction():
                context.run_migrations()
        finally:
            connection.rollback()
            connection.exec_driver_sql(f"SELECT pg_advisory_unlock({ADVISORY_LOCK_KEY})")
            connection.commit()
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("pgqueue migrations run online only: they inspect the existing table")
run_migrations_online()

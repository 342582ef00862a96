"""Run the bundled alembic migrations from an installed package (`pgqueue migrate`)."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

from alembic import command
from alembic.config import Config

from pgqueue.errors import SchemaNotMigrated, SchemaNotOurs
from pgqueue.migrations.names import DEFAULT_SCHEMA, Roles

SCRIPT_LOCATION = "pgqueue:migrations"
#: the alembic.ini an installed package ships, for `alembic -c` without a checkout
ALEMBIC_INI = str(Path(__file__).parent / "migrations" / "alembic.ini")

logger = logging.getLogger(__name__)


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


#: the comment on a schema that pgqueue's own programs made (demo, bench, chaos):
#: the only schemas they ever drop
SCRATCH_MARK = "pgqueue scratch schema, made by `pgqueue {program}`: dropped and made anew by it"


def replace_scratch_schema(
    dsn: str, schema: str, *, program: str, own_server: bool = False
) -> None:
    """Drop ``schema`` and make it anew, empty and marked as ``program``'s, if it
    does not exist or that program made it; raise `SchemaNotOurs` (and touch
    nothing) for any other schema, however it is named. ``own_server``: the
    database is the program's own (an embedded server it started, whose data
    directory an older pgqueue may have left a schema in, unmarked)."""
    import psycopg
    from psycopg import sql

    mark = SCRATCH_MARK.format(program=program)
    with psycopg.connect(dsn) as conn, conn.transaction():
        # two programs racing for one name: the second waits, then sees the mark
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"pgqueue scratch {schema}",))
        found = conn.execute(
            "SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = %s",
            (schema,),
        ).fetchone()
        if found is not None and found[0] != mark and not own_server:
            raise SchemaNotOurs(
                f"schema {schema} was not made by pgqueue {program}, which only drops a "
                f"schema it created: give --schema a name of its own"
            )
        name = sql.Identifier(schema)
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(name))
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(name))
        conn.execute(sql.SQL("COMMENT ON SCHEMA {} IS {}").format(name, sql.Literal(mark)))


def drop_scratch_schema(dsn: str, schema: str, *, program: str) -> None:
    """Drop ``schema`` if ``program`` made it (see `replace_scratch_schema`)."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(dsn) as conn, conn.transaction():
        found = conn.execute(
            "SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = %s",
            (schema,),
        ).fetchone()
        if found is not None and found[0] == SCRATCH_MARK.format(program=program):
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


def head() -> str:
    """The newest revision shipped with this package."""
    from alembic.script import ScriptDirectory

    heads = ScriptDirectory.from_config(alembic_config("")).get_heads()
    return heads[0]


async def wait_for_revision(dsn: str, schema: str, wait: float) -> None:
    """`SchemaNotMigrated` on a schema pgqueue never migrated; on one behind this
    pgqueue's revision (a migration in progress, a rolling upgrade), wait up to
    ``wait`` seconds for it, saying so once, then raise: a worker on an old
    schema would fail its statements one by one, retrying forever."""
    latest = head()
    deadline = time.monotonic() + wait
    said = False
    while True:
        now = await asyncio.to_thread(current, dsn, schema=schema)
        if now == latest:
            return
        if now is None:
            raise SchemaNotMigrated(
                f"schema {schema} is not migrated for pgqueue: run pgqueue migrate"
            )
        if time.monotonic() > deadline:
            raise SchemaNotMigrated(
                f"schema {schema} is at {now}; this pgqueue needs {latest}: run pgqueue migrate"
            )
        if not said:
            logger.warning(
                "schema %s is at %s; waiting up to %.0fs for it to reach %s (pgqueue migrate)",
                schema,
                now,
                wait,
                latest,
                extra={"action": "schema_wait"},
            )
            said = True
        await asyncio.sleep(1.0)


__all__ = [
    "Roles",
    "alembic_config",
    "current",
    "downgrade",
    "drop_scratch_schema",
    "head",
    "replace_scratch_schema",
    "upgrade",
    "wait_for_revision",
]

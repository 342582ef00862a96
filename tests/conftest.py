"""A real PostgreSQL, a fresh database per test cloned from a migrated template."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import psycopg
import psycopg_pool
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from pytest_postgresql.janitor import DatabaseJanitor

from pgqueue import migrate
from tests.pgserver_support import Server, find_server

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Server]:
    server = find_server()
    yield server
    if server.embedded is not None:
        server.embedded.stop()


def _janitor(server: Server, dbname: str, template: str | None = None) -> DatabaseJanitor:
    return DatabaseJanitor(
        user=server.user,
        host=server.host,
        port=server.port,
        password=server.password,
        dbname=dbname,
        template_dbname=template,
    )


def _template(server: Server, prefix: str, arrange: Any = None) -> Iterator[str]:
    """A database ``arrange``d (given a connection), then with every migration
    applied: each test gets a copy."""
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    janitor = _janitor(server, name)
    janitor.init()
    try:
        if arrange is not None:
            with psycopg.connect(server.dsn(name), autocommit=True) as conn:
                arrange(conn)
        migrate.upgrade(server.dsn(name))
        yield name
    finally:
        janitor.drop()


@pytest.fixture(scope="session")
def template_db(pg_server: Server) -> Iterator[str]:
    """A database with every migration applied; each test gets a copy."""
    yield from _template(pg_server, "pgqueue_tmpl")


@pytest.fixture
def dsn(pg_server: Server, template_db: str) -> Iterator[str]:
    """A fresh, migrated database for this test."""
    name = f"pgqueue_t_{uuid.uuid4().hex[:12]}"
    with _janitor(pg_server, name, template_db):
        yield pg_server.dsn(name)


@pytest.fixture(scope="session")
def noetl_template_db(pg_server: Server) -> Iterator[str]:
    """NoETL's own layout (NOETL.md §4, §5: partitioned, its indexes, executions and
    runtime registry), then every migration: what a NoETL database looks like
    once pgqueue is installed beside it."""
    from tests.noetl_schema import create_noetl_layout

    yield from _template(pg_server, "pgqueue_ntmpl", create_noetl_layout)


@pytest.fixture
def noetl_dsn(pg_server: Server, noetl_template_db: str) -> Iterator[str]:
    """A fresh database of NoETL's layout, migrated, for this test."""
    name = f"pgqueue_n_{uuid.uuid4().hex[:12]}"
    with _janitor(pg_server, name, noetl_template_db):
        yield pg_server.dsn(name)


@pytest.fixture
def empty_dsn(pg_server: Server) -> Iterator[str]:
    """A fresh database with nothing in it (for migration tests)."""
    name = f"pgqueue_e_{uuid.uuid4().hex[:12]}"
    with _janitor(pg_server, name):
        yield pg_server.dsn(name)


@pytest.fixture
def db(dsn: str) -> Iterator[psycopg.Connection[Any]]:
    """An autocommit connection for arranging and asserting on the table."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        yield conn


@pytest.fixture
async def pool(dsn: str) -> AsyncIterator[psycopg_pool.AsyncConnectionPool[Any]]:
    async with psycopg_pool.AsyncConnectionPool(dsn, min_size=1, max_size=8, open=False) as pool:
        await pool.wait()
        yield pool


@pytest.fixture
def login(dsn: str, db: psycopg.Connection[Any]) -> Iterator[Any]:
    """Make a LOGIN role that is a member of a pgqueue role; DSN to connect as it."""
    made: list[str] = []

    def make(group: str) -> str:
        name = f"t_{group}_{uuid.uuid4().hex[:8]}"
        db.execute(
            sql.SQL("CREATE ROLE {} LOGIN IN ROLE {}").format(
                sql.Identifier(name), sql.Identifier(group)
            )
        )
        made.append(name)
        return make_conninfo("", **{**conninfo_to_dict(dsn), "user": name})

    yield make
    for name in made:
        db.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
        db.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))

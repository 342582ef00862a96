"""Least-privilege roles per database: their names are the migration's to set,
and creating them is safe while another database's migration does the same."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import errors, sql
from psycopg.conninfo import make_conninfo
from pytest_postgresql.janitor import DatabaseJanitor

from pgqueue import enqueue_many_sync, migrate
from tests.acceptance.cli import spawn
from tests.pgserver_support import Server

Conn = psycopg.Connection[Any]


@pytest.fixture
def two_databases(pg_server: Server) -> Iterator[tuple[str, str]]:
    names = [f"pgqueue_r_{uuid.uuid4().hex[:10]}" for _ in range(2)]
    janitors = [
        DatabaseJanitor(
            user=pg_server.user,
            host=pg_server.host,
            port=pg_server.port,
            password=pg_server.password,
            dbname=name,
        )
        for name in names
    ]
    for janitor in janitors:
        janitor.init()
    try:
        yield pg_server.dsn(names[0]), pg_server.dsn(names[1])
    finally:
        for janitor in janitors:
            janitor.drop()


def test_each_database_grants_roles_of_its_own_and_creation_does_not_race(
    two_databases: tuple[str, str], pg_server: Server
) -> None:
    first, second = two_databases
    suffix = uuid.uuid4().hex[:6]
    roles = {
        first: migrate.Roles(worker=f"w_a_{suffix}", producer=f"p_a_{suffix}"),
        second: migrate.Roles(worker=f"w_b_{suffix}", producer=f"p_shared_{suffix}"),
    }
    # two migrations at once (as two hosts' deploys would), both creating the
    # shared producer role: the check-then-create raced across databases
    runs = [
        spawn(
            "migrate",
            "--dsn",
            dsn,
            "--worker-role",
            chosen.worker,
            "--producer-role",
            chosen.producer,
        )
        for dsn, chosen in roles.items()
    ]
    outputs = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    login = f"t_login_{suffix}"
    with psycopg.connect(pg_server.dsn("postgres"), autocommit=True) as admin:
        admin.execute(
            sql.SQL("CREATE ROLE {} LOGIN IN ROLE {}").format(
                sql.Identifier(login), sql.Identifier(roles[first].worker)
            )
        )
    try:
        enqueue_many_sync_to(first, 1)
        enqueue_many_sync_to(second, 1)
        # a member of the first database's worker role works there ...
        with psycopg.connect(make_conninfo(first, user=login)) as conn:
            assert conn.execute("SELECT count(*) FROM noetl.command").fetchone() == (1,)
        # ... and may not touch the second database's queue
        with (
            psycopg.connect(make_conninfo(second, user=login)) as conn,
            pytest.raises(errors.InsufficientPrivilege),
        ):
            conn.execute("SELECT count(*) FROM noetl.command")
    finally:
        with psycopg.connect(pg_server.dsn("postgres"), autocommit=True) as admin:
            admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(login)))
        for dsn in (first, second):
            migrate.downgrade(dsn, "base", roles=roles[dsn])
        with psycopg.connect(pg_server.dsn("postgres"), autocommit=True) as admin:
            for role in {*vars(roles[first]).values(), *vars(roles[second]).values()}:
                admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def enqueue_many_sync_to(dsn: str, count: int) -> None:
    with psycopg.connect(dsn) as conn:
        enqueue_many_sync(conn, [{"step": "s", "tool_kind": "k", "input": {}}] * count)
        conn.commit()

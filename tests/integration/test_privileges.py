"""Least privilege, identifiers through psycopg.sql, and no secret in any output."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import psycopg
import psycopg_pool
import pytest
from psycopg import errors, sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from pgqueue import (
    Claimed,
    PgCommandSource,
    QueueTable,
    Worker,
    enqueue,
    enqueue_many,
    enqueue_many_sync,
    migrate,
)
from pgqueue.db.gateway import Gateway
from tests.acceptance.cli import env, pgqueue
from tests.helpers import status_counts

Conn = psycopg.Connection[Any]


async def test_a_producer_can_enqueue_and_nothing_else(login: Any, db: Conn) -> None:
    producer = login("pgqueue_producer")
    with psycopg.connect(producer) as conn:
        enqueue_many_sync(conn, [{"step": "s", "tool_kind": "noop", "input": {}}])
        enqueue_many_sync(
            conn,
            [{"step": "s", "tool_kind": "noop", "input": {}, "command_id": 7, "execution_id": 7}],
        )
        enqueue_many_sync(conn, [{"step": "s", "tool_kind": "noop", "input": {}}] * 300)  # COPY
        conn.commit()
    assert status_counts(db) == {"PENDING": 302}
    for statement in (
        "SELECT * FROM noetl.command",
        "UPDATE noetl.command SET status = 'COMPLETED'",
        "DELETE FROM noetl.command",
        "CREATE TABLE noetl.evil (x int)",
    ):
        with psycopg.connect(producer) as conn, pytest.raises(errors.InsufficientPrivilege):
            conn.execute(statement)
    assert status_counts(db) == {"PENDING": 302}


async def test_a_worker_can_claim_and_finish_and_nothing_else(login: Any, db: Conn) -> None:
    ids = enqueue_many_sync(db, [{"step": "s", "tool_kind": "noop", "input": {}}] * 20)
    worker_dsn = login("pgqueue_worker")
    async with psycopg_pool.AsyncConnectionPool(
        worker_dsn, min_size=1, max_size=4, open=False
    ) as pool:
        await pool.wait()
        worker = Worker(PgCommandSource(pool, worker_id="limited", wait=False), pool=pool)
        worker.register("noop", lambda cmd, ctx: {"ok": True})
        stats = await worker.run()
    assert stats["completed"] == 20
    assert status_counts(db) == {"COMPLETED": 20}
    for statement in (
        "INSERT INTO noetl.command (execution_id, command_id, step_name) VALUES (1, 1, 'x')",
        f"DELETE FROM noetl.command WHERE command_id = {int(ids[0])}",
        "CREATE TABLE noetl.evil (x int)",
        "ALTER TABLE noetl.command ADD COLUMN evil int",
        "DROP TABLE noetl.command",
    ):
        with psycopg.connect(worker_dsn) as conn, pytest.raises(errors.InsufficientPrivilege):
            conn.execute(statement)
    assert status_counts(db) == {"COMPLETED": 20}


@pytest.mark.parametrize(
    "schema",
    ['x"; DROP TABLE noetl.command; --', "Robert'); DROP TABLE noetl.command;--", "we ird.name"],
)
async def test_every_configurable_name_goes_through_identifiers(
    empty_dsn: str, schema: str
) -> None:
    migrate.upgrade(empty_dsn)  # the default schema, whose table must survive
    migrate.upgrade(empty_dsn, schema=schema)
    table = QueueTable(schema=schema)
    async with psycopg_pool.AsyncConnectionPool(empty_dsn, min_size=1, open=False) as pool:
        await pool.wait()
        async with PgCommandSource(
            pool,
            worker_id="w'; DROP TABLE x;--",
            tool_kinds=["k'--"],
            table=table,
            wait=True,
            poll_interval=3600,
        ) as source:
            waiting = asyncio.create_task(source.next())
            async with await psycopg.AsyncConnection.connect(empty_dsn, autocommit=True) as conn:
                command_id = await enqueue(
                    conn, step="s'--", tool_kind="k'--", input={}, table=table
                )
            pulled = await asyncio.wait_for(waiting, 20)  # woken by NOTIFY on the odd channel
            assert pulled is not None and isinstance(pulled.outcome, Claimed)
            assert pulled.outcome.command.command_id == command_id
            await source.ack(pulled.ack)
            await source.complete(pulled.ack, {})
    with psycopg.connect(empty_dsn) as conn:
        assert conn.execute("SELECT to_regclass('noetl.command') IS NOT NULL").fetchone() == (True,)
        assert conn.execute(
            sql.SQL("SELECT status, worker_id FROM {}").format(table.identifier)
        ).fetchall() == [("COMPLETED", "w'; DROP TABLE x;--")]


def test_the_dsn_password_never_appears_in_any_output(dsn: str, db: Conn) -> None:
    secret = "hunter2-" + uuid.uuid4().hex[:6]
    params = conninfo_to_dict(dsn)
    with_password = make_conninfo("", **{**params, "password": secret})  # trust auth ignores it
    outputs = []
    for args in (
        ["enqueue", "--step", "s", "--tool-kind", "noop"],
        ["worker", "--until-empty", "-vv"],
        ["status"],
        ["status", "--json"],
        ["requeue", "--all"],
        ["migrate", "-v"],
    ):
        done = pgqueue(*args, env=env(PGQUEUE_DSN=with_password))
        outputs.append(done.stdout + done.stderr)
        assert done.returncode in (0, 1), done.stderr
    unreachable = pgqueue(
        "status", "--dsn", with_password.replace(str(params.get("port", 5432)), "1")
    )
    outputs.append(unreachable.stdout + unreachable.stderr)
    assert status_counts(db) == {"COMPLETED": 1}
    for text in outputs:
        assert secret not in text


async def test_a_statement_is_rendered_for_each_client_encoding(empty_dsn: str) -> None:
    # The gateway keeps each statement rendered to bytes; a name outside ASCII
    # is different bytes in another client encoding, so the cache must know it.
    schema = "file_d'attente_é"
    migrate.upgrade(empty_dsn, schema=schema)
    async with psycopg_pool.AsyncConnectionPool(
        empty_dsn, min_size=1, max_size=1, open=False
    ) as pool:
        await pool.wait()
        gateway = Gateway(pool, QueueTable(schema=schema))
        async with await psycopg.AsyncConnection.connect(empty_dsn, autocommit=True) as conn:
            await enqueue_many(
                conn, [{"step": "s", "tool_kind": "k", "input": {}}] * 3, table=gateway.table
            )
        for encoding in ("UTF8", "LATIN1", "UTF8"):
            async with pool.connection() as conn:
                await conn.execute(
                    sql.SQL("SET client_encoding TO {}").format(sql.Literal(encoding))
                )
                await conn.commit()
            claimed = await gateway.claim_batch(
                worker_id="w", limit=1, lease_for=timedelta(seconds=30), tool_kinds=None
            )
            assert len(claimed) == 1


def test_pgqueues_functions_ignore_a_planted_operator_on_the_callers_path(
    dsn: str, db: Conn
) -> None:
    # Someone who may create a schema plants operators that pgqueue's functions
    # use unqualified; a privileged caller with that schema on its search_path
    # then ran them as itself. pgqueue's functions pin their search_path.
    evil = f"t_evil_{uuid.uuid4().hex[:8]}"
    db.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(evil)))
    dbname = conninfo_to_dict(dsn)["dbname"]
    db.execute(
        sql.SQL("GRANT CREATE ON DATABASE {} TO {}").format(
            sql.Identifier(dbname), sql.Identifier(evil)
        )
    )
    try:
        with psycopg.connect(make_conninfo(dsn, user=evil), autocommit=True) as attacker:
            attacker.execute(
                sql.SQL(
                    """
                    CREATE SCHEMA {s};
                    CREATE TABLE {s}.ran_as (who text);
                    GRANT USAGE ON SCHEMA {s} TO PUBLIC;
                    GRANT INSERT ON {s}.ran_as TO PUBLIC;
                    CREATE FUNCTION {s}.shl(bigint, integer) RETURNS bigint
                        LANGUAGE plpgsql AS $$
                        BEGIN INSERT INTO {log} VALUES (current_user); RETURN $1; END $$;
                    CREATE OPERATOR {s}.<< (LEFTARG = bigint, RIGHTARG = integer,
                                            FUNCTION = {s}.shl);
                    CREATE FUNCTION {s}.cat(text, name) RETURNS text
                        LANGUAGE plpgsql AS $$
                        BEGIN INSERT INTO {log} VALUES (current_user); RETURN $1; END $$;
                    CREATE OPERATOR {s}.|| (LEFTARG = text, RIGHTARG = name,
                                            FUNCTION = {s}.cat);
                    CREATE FUNCTION {s}.bor(bigint, bigint) RETURNS bigint
                        LANGUAGE plpgsql AS $$
                        BEGIN INSERT INTO {log} VALUES (current_user); RETURN $1; END $$;
                    CREATE OPERATOR {s}.| (LEFTARG = bigint, RIGHTARG = bigint,
                                           FUNCTION = {s}.bor);
                    CREATE OPERATOR {s}.& (LEFTARG = bigint, RIGHTARG = bigint,
                                           FUNCTION = {s}.bor);
                    """
                ).format(s=sql.Identifier(evil), log=sql.Identifier(evil, "ran_as"))
            )
        with psycopg.connect(dsn, autocommit=True) as victim:
            victim.execute(sql.SQL("SET search_path = {}, pg_catalog").format(sql.Identifier(evil)))
            victim.execute("SELECT noetl.snowflake_id()")  # the id generator, inlined
            victim.execute("SELECT noetl.snowflake_id() FROM generate_series(1, 3)")
            enqueue_many_sync(victim, [{"step": "s", "tool_kind": "k", "input": {}}])  # NOTIFY
            ran = victim.execute(
                sql.SQL("SELECT who FROM {}").format(sql.Identifier(evil, "ran_as"))
            )
            assert ran.fetchall() == []
        assert status_counts(db) == {"PENDING": 1}
    finally:
        db.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(evil)))
        db.execute(
            sql.SQL("REVOKE ALL ON DATABASE {} FROM {}").format(
                sql.Identifier(dbname), sql.Identifier(evil)
            )
        )
        db.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(evil)))

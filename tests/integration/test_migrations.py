"""Migrations: from an empty database and from NoETL's own partitioned table."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import psycopg
import psycopg_pool

from pgqueue import Claimed, PgCommandSource, enqueue_sync, migrate
from tests.conftest import ROOT
from tests.helpers import status_counts
from tests.noetl_schema import create_noetl_table

Conn = psycopg.Connection[Any]

SCHEMA_QUERY = """
SELECT jsonb_build_object(
  'columns', (SELECT jsonb_agg(jsonb_build_array(column_name, data_type, is_nullable)
                               ORDER BY column_name)
              FROM information_schema.columns
              WHERE table_schema = 'noetl' AND table_name = 'command'),
  'queue_defaults', (SELECT jsonb_object_agg(column_name, column_default)
              FROM information_schema.columns
              WHERE table_schema = 'noetl' AND table_name = 'command'
                AND column_name IN ('attempts', 'due_at', 'priority', 'max_attempts', 'status')),
  'indexes', (SELECT jsonb_agg(regexp_replace(indexdef, ' ON (ONLY )?noetl\\.command ', ' ON ')
                               ORDER BY indexname)
              FROM pg_indexes WHERE schemaname = 'noetl' AND tablename = 'command'),
  'triggers', (SELECT jsonb_agg(tgname ORDER BY tgname) FROM pg_trigger
               WHERE tgrelid = 'noetl.command'::regclass AND NOT tgisinternal)
)
"""


KEEP = (
    "SELECT execution_id, command_id, step_name, context, status FROM noetl.command ORDER BY 1, 2"
)


def schema_of(dsn: str) -> dict[str, Any]:
    with psycopg.connect(dsn) as conn:
        found = conn.execute(SCHEMA_QUERY).fetchone()
    assert found is not None
    return dict(found[0])


def test_upgrade_from_empty_creates_the_queue(empty_dsn: str) -> None:
    migrate.upgrade(empty_dsn)
    schema = schema_of(empty_dsn)
    assert {
        "attempts",
        "due_at",
        "lease_expires_at",
        "priority",
        "max_attempts",
        "claim_token",
    } <= {c[0] for c in schema["columns"]}
    assert any(
        "command_pgqueue_pending_idx" in i and "WHERE (status = 'PENDING'" in i
        for i in schema["indexes"]
    )
    assert schema["triggers"] == ["pgqueue_notify"]
    assert migrate.current(empty_dsn) == migrate.head()


def test_upgrade_from_noetl_keeps_rows_and_makes_them_claimable(empty_dsn: str) -> None:
    with psycopg.connect(empty_dsn, autocommit=True) as conn:
        create_noetl_table(conn, rows=40)
        before = conn.execute(KEEP).fetchall()
    migrate.upgrade(empty_dsn)
    with psycopg.connect(empty_dsn, autocommit=True) as conn:
        after = conn.execute(KEEP).fetchall()
        assert after == before
        # NoETL's 1-based attempt 3 means two attempts were spent
        assert conn.execute(
            "SELECT attempts FROM noetl.command WHERE step_name = 'retried'"
        ).fetchone() == (2,)
        # NoETL's own id function is left alone
        assert (
            "noetl_own_seq"
            in conn.execute("SELECT prosrc FROM pg_proc WHERE proname = 'snowflake_id'").fetchone()[
                0
            ]
        )
        # still partitioned, and enqueue works on the partitioned layout
        assert conn.execute(
            "SELECT count(*) FROM pg_inherits WHERE inhparent = 'noetl.command'::regclass"
        ).fetchone() == (16,)
        enqueue_sync(conn, step="new", tool_kind="http", input={}, execution_id=5000)

    import asyncio

    async def drain() -> list[str]:
        async with psycopg_pool.AsyncConnectionPool(empty_dsn, open=False) as pool:
            await pool.wait()
            async with PgCommandSource(pool, worker_id="w", wait=False) as source:
                steps = []
                while (pulled := await source.next()) is not None:
                    assert isinstance(pulled.outcome, Claimed), pulled.outcome
                    steps.append(pulled.outcome.command.step)
                    await source.ack(pulled.ack)
                return steps

    steps = asyncio.run(drain())
    assert len(steps) == 42  # 40 pending + the retried one + the new one
    with psycopg.connect(empty_dsn) as conn:
        assert status_counts(conn) == {"CLAIMED": 42, "COMPLETED": 1}
        rc = conn.execute("SELECT context FROM noetl.command WHERE step_name = 'step_7'").fetchone()
        assert rc is not None and rc[0]["render_context"] == {"n": 7}


def test_both_starting_points_give_the_same_queue_schema(empty_dsn: str, dsn: str) -> None:
    # `dsn` was migrated from empty (the template); `empty_dsn` starts as NoETL's.
    with psycopg.connect(empty_dsn, autocommit=True) as conn:
        create_noetl_table(conn, rows=1)
    migrate.upgrade(empty_dsn)
    fresh, upgraded = schema_of(dsn), schema_of(empty_dsn)
    assert fresh["columns"] == upgraded["columns"]
    assert fresh["queue_defaults"] == upgraded["queue_defaults"]
    assert fresh["indexes"] == upgraded["indexes"]
    assert fresh["triggers"] == upgraded["triggers"]


def test_downgrade_then_upgrade_round_trips(empty_dsn: str) -> None:
    migrate.upgrade(empty_dsn)
    first = schema_of(empty_dsn)
    migrate.downgrade(empty_dsn, "base")
    with psycopg.connect(empty_dsn) as conn:
        assert conn.execute("SELECT to_regclass('noetl.command')").fetchone() == (None,)
        assert conn.execute(
            "SELECT count(*) FROM pg_proc WHERE proname = 'snowflake_id'"
        ).fetchone() == (0,)
    migrate.upgrade(empty_dsn)
    assert schema_of(empty_dsn) == first


def test_downgrade_on_noetl_keeps_noetls_table_and_rows(empty_dsn: str) -> None:
    with psycopg.connect(empty_dsn, autocommit=True) as conn:
        create_noetl_table(conn, rows=5)
    migrate.upgrade(empty_dsn)
    upgraded = schema_of(empty_dsn)
    migrate.downgrade(empty_dsn, "base")
    with psycopg.connect(empty_dsn) as conn:
        assert conn.execute("SELECT count(*) FROM noetl.command").fetchone() == (7,)
        columns = {
            r[0]
            for r in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = 'command'"
            )
        }
        assert "attempts" not in columns and "step_name" in columns
    migrate.upgrade(empty_dsn)
    assert schema_of(empty_dsn) == upgraded


def test_version_table_never_collides_with_the_hosts(empty_dsn: str) -> None:
    with psycopg.connect(empty_dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE public.alembic_version (version_num varchar(32) PRIMARY KEY)")
        conn.execute("INSERT INTO public.alembic_version VALUES ('host_app_rev_42')")
    migrate.upgrade(empty_dsn)
    migrate.upgrade(empty_dsn)  # idempotent
    with psycopg.connect(empty_dsn) as conn:
        assert conn.execute("SELECT version_num FROM public.alembic_version").fetchall() == [
            ("host_app_rev_42",)
        ]
        assert conn.execute("SELECT version_num FROM noetl.pgqueue_alembic_version").fetchall() == [
            (migrate.head(),)
        ]


def test_alembic_upgrade_head_works_from_the_checkout(empty_dsn: str) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL",)}
    env["PGQUEUE_DSN"] = empty_dsn
    alembic = [sys.executable, "-m", "alembic"]
    done = subprocess.run(
        [*alembic, "upgrade", "head"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert migrate.current(empty_dsn) == migrate.head()
    # alembic.ini's logging: each step says what it runs
    assert f"-> {migrate.head()}, " in done.stderr and "Running upgrade" in done.stderr, done.stderr
    down = subprocess.run(
        [*alembic, "downgrade", "base"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert down.returncode == 0, down.stderr
    assert migrate.current(empty_dsn) is None


def test_no_index_repeats_one_noetl_has(empty_dsn: str) -> None:
    # NoETL's own idx_command_command_id serves targeted claims; pgqueue's copy
    # of it was one more index write on every update.
    with psycopg.connect(empty_dsn, autocommit=True) as conn:
        create_noetl_table(conn, rows=3)
        conn.execute("CREATE INDEX idx_command_command_id ON noetl.command (command_id)")
        migrate.upgrade(empty_dsn, "0006")
        # an install from before: pgqueue's duplicate is there, and 0007 drops it
        conn.execute("CREATE INDEX command_pgqueue_command_id_idx ON noetl.command (command_id)")
        migrate.upgrade(empty_dsn)
        indexes = {
            name
            for (name,) in conn.execute(
                "SELECT indexrelid::regclass::text FROM pg_index"
                " WHERE indrelid = 'noetl.command'::regclass"
            )
        }
        assert "noetl.command_pgqueue_command_id_idx" not in indexes
        assert "noetl.idx_command_command_id" in indexes
    with psycopg.connect(empty_dsn, autocommit=True) as conn:
        conn.execute("DROP SCHEMA noetl CASCADE")
        create_noetl_table(conn, rows=3)
        conn.execute("CREATE INDEX idx_command_command_id ON noetl.command (command_id)")
    # a first migration of such a table never builds the duplicate at all
    with psycopg.connect(empty_dsn, autocommit=True) as conn:
        migrate.upgrade(empty_dsn)
        assert conn.execute(
            "SELECT to_regclass('noetl.command_pgqueue_command_id_idx')"
        ).fetchone() == (None,)


def test_pgqueues_own_table_keeps_its_command_id_index(
    dsn: str, db: psycopg.Connection[Any]
) -> None:
    assert db.execute(
        "SELECT to_regclass('noetl.command_pgqueue_command_id_idx') IS NOT NULL"
    ).fetchone() == (True,)


def test_pgqueues_id_generator_is_inlined_and_its_ids_keep_their_shape(dsn: str) -> None:
    """pgqueue's own ``snowflake_id()`` is one expression the planner writes
    into the statement: a bulk enqueue draws its ids as one statement over a
    series, and a function pinned to a ``search_path`` (a call, and a setting
    made and undone, per id) cost a third of the bulk. Its ids keep their
    layout: 41 bits of milliseconds since 2024-01-01, 5 of shard, 18 of
    sequence."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        plan = "\n".join(
            str(r[0])
            for r in conn.execute(
                "EXPLAIN (VERBOSE, COSTS OFF)"
                " SELECT noetl.snowflake_id() FROM generate_series(1, 3)"
            )
        )
        assert "snowflake_id" not in plan and "nextval" in plan, plan
        ids = [
            int(r[0])
            for r in conn.execute("SELECT noetl.snowflake_id() FROM generate_series(1, 1000)")
        ]
        assert len(set(ids)) == 1000
        now_ms = int(
            conn.execute(
                "SELECT floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint - 1704067200000"
            ).fetchone()[0]
        )  # type: ignore[index]
        assert all(0 <= now_ms - (i >> 23) < 60_000 for i in ids)
        assert {(i >> 18) & 31 for i in ids} == {0}
        conn.execute("SET noetl.shard_id = '5'")
        one = int(conn.execute("SELECT noetl.snowflake_id()").fetchone()[0])  # type: ignore[index]
        assert (one >> 18) & 31 == 5

"""Enqueue on NoETL's own table: its required columns, given or named in the
error; its other producer columns written as given."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from pgqueue import DatabaseError, enqueue_many_sync, enqueue_sync, migrate
from tests.helpers import row, status_counts
from tests.noetl_schema import create_noetl_table

Conn = psycopg.Connection[Any]


@pytest.fixture
def noetl(empty_dsn: str) -> Iterator[Conn]:
    """NoETL's table as its control plane has it now: event_id and catalog_id
    NOT NULL without a default, its loop columns, migrated by pgqueue."""
    with psycopg.connect(empty_dsn, autocommit=True) as conn:
        create_noetl_table(conn, rows=0)
        conn.execute("UPDATE noetl.command SET event_id = 1, catalog_id = 1")
        conn.execute(
            "ALTER TABLE noetl.command ALTER COLUMN event_id SET NOT NULL,"
            " ALTER COLUMN catalog_id SET NOT NULL,"
            " ADD COLUMN loop_event_id bigint, ADD COLUMN iter_index integer"
        )
        conn.execute("DELETE FROM noetl.command")
        migrate.upgrade(empty_dsn)
        yield conn


def test_a_required_column_not_given_is_named_and_nothing_is_written(noetl: Conn) -> None:
    with pytest.raises(DatabaseError) as info:
        enqueue_sync(noetl, step="s", tool_kind="k", input={})
    assert "requires event_id" in str(info.value) and "pass event_id=" in str(info.value)
    # a bulk (which would take the COPY path) says the same
    with pytest.raises(DatabaseError, match="requires event_id"):
        enqueue_many_sync(noetl, [{"step": "s", "tool_kind": "k", "input": {}}] * 300)
    assert status_counts(noetl) == {}


def test_noetls_producer_columns_are_written_as_given(noetl: Conn) -> None:
    command_id = enqueue_sync(
        noetl,
        step="fetch",
        tool_kind="python",
        input={"x": 1},
        execution_id=42,
        event_id=7,
        catalog_id=8,
        parent_execution_id=41,
        parent_command_id=40,
        loop_event_id=99,
        iter_index=3,
        meta={"command_id": 1, "actionable": True, "max_attempts": 3},
    )
    found = row(noetl, command_id)
    assert (
        found["event_id"],
        found["catalog_id"],
        found["parent_execution_id"],
        found["parent_command_id"],
        found["loop_event_id"],
        found["iter_index"],
        found["meta"],
    ) == (7, 8, 41, 40, 99, 3, {"command_id": 1, "actionable": True, "max_attempts": 3})
    # a bulk past the COPY threshold that gives them takes the INSERT, keeping them
    ids = enqueue_many_sync(
        noetl,
        [
            {"step": "s", "tool_kind": "k", "input": {}, "event_id": i, "catalog_id": 1}
            for i in range(300)
        ],
    )
    assert len(ids) == 300
    assert noetl.execute(
        "SELECT count(*), count(DISTINCT event_id) FROM noetl.command WHERE step_name = 's'"
    ).fetchone() == (300, 300)


def test_noetls_columns_are_validated_by_name(noetl: Conn) -> None:
    from pydantic import ValidationError

    for bad, field in (
        ({"event_id": 2**63}, "event_id"),
        ({"iter_index": 2**31}, "iter_index"),
        ({"meta": [1, 2]}, "meta"),
        ({"meta": {"x": float("nan")}}, "meta"),
    ):
        with pytest.raises(ValidationError, match=field):
            enqueue_sync(noetl, step="s", tool_kind="k", input={}, **bad)
    assert status_counts(noetl) == {}
